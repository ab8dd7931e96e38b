#!/usr/bin/env bash
# Recipe trials on a GPU with the PyTorch twin (benchmarks/torch_gan.py): one process per variant
# (a line "name args..." of the variants file), all at once, each writing per-epoch digit shares
# to $OUT/<name>/trials.jsonl; then a summary (benchmarks/summarize_trials.py).
#   MINIGAN_DATA_DIR=... EPOCHS=6 \
#     bash benchmarks/recipe_search_gpu.sh benchmarks/recipe_search/round2.txt
set -u
VARIANTS=${1:?usage: recipe_search_gpu.sh VARIANTS_FILE}
OUT=${OUT:-runs/recipe_search}
EPOCHS=${EPOCHS:-6}
LIMIT_S=${LIMIT_S:-420}
mkdir -p "$OUT"
while read -r name args; do
  [ -z "$name" ] && continue
  # shellcheck disable=SC2086
  timeout "$LIMIT_S" python benchmarks/torch_gan.py --epochs "$EPOCHS" \
    --out "$OUT/$name" $args ${EXTRA:-} > "$OUT/$name.log" 2>&1 &
done < "$VARIANTS"
wait
python "$(dirname "$0")/summarize_trials.py" "$OUT"
