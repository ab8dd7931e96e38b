"""A picture of the graph autograd recorded behind a tensor, drawn with matplotlib alone.

graph_nodes walks it through the attributes backward() uses (tensor._ctx, function.inputs) and
lays it out in columns by depth; draw_graph draws that layout, each tensor with its .data and,
once backward() has filled it, its .grad (as micrograd's draw_dot).
"""
from collections import namedtuple
from dataclasses import dataclass

from minigan.autograd import Function, Tensor
from minigan.module import Parameter

FREED = ("the graph behind this tensor was freed by backward(): call draw_graph before "
         "backward(), or call backward(retain_graph=True) to keep the graph")
NO_GRAPH = ("this tensor has no recorded graph (it was made under no_grad, or from tensors none "
            "of which requires grad): give an input requires_grad=True and compute outside no_grad")
COLOURS = {"Parameter": "#bfe5c8", "requires_grad": "#c4dbf5", "constant": "#e4e4e4",
           "function": "#f6d6a8", "tensor": "white"}
COLUMN, ROW, BOX_W, BOX_H = 2.6, 1.2, 2.0, 0.9  # layout units: one unit is one inch
SHOWN = 4  # arrays of up to this many elements are printed whole, larger ones summarised
Edge = namedtuple("Edge", "source target via")  # via: the edge's y in each column it crosses


@dataclass
class Node:
    label: str    # the text drawn: a Function's class name; a tensor's name, shape, role (a
                  # leaf's), data and grad (when backward() filled it)
    role: str     # "function", "tensor" (a Function made it), or a leaf's: "Parameter",
                  # "requires_grad" or "constant"
    column: int = 0   # 0: the first inputs ... last: the output
    y: float = 0.0    # rows are ROW apart, centred on 0

    @property
    def kind(self):
        """"function", "tensor", or "leaf" (a tensor with nothing recorded behind it)."""
        return self.role if self.role in ("function", "tensor") else "leaf"


def _walk(output):
    """Every tensor and Function behind `output`, depth first from it (inputs in their order),
    and the edges (source, target) between them as indices into that list, data flowing along."""
    order, seen, edges, stack = [], set(), [], [output]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        order.append(obj)
        if isinstance(obj, Function):
            if obj.inputs is None:  # backward() cleared the Function's __dict__
                raise ValueError(FREED)
            edges += [(id(x), id(obj)) for x in obj.inputs]
            stack.extend(reversed(obj.inputs))
        elif obj._ctx is not None:
            edges.append((id(obj._ctx), id(obj)))
            stack.append(obj._ctx)
    position = {id(obj): i for i, obj in enumerate(order)}
    return order, [(position[a], position[b]) for a, b in edges]


def summary(array):
    """A few characters for an array: its values when it has at most SHOWN of them (flattened,
    3 significant digits; a 0-d array without brackets), else their mean and range."""
    values = array.ravel().astype(float)
    if array.ndim == 0:
        return f"{values[0]:.3g}"
    if values.size <= SHOWN:
        return "[" + " ".join(f"{v:.3g}" for v in values) + "]"
    return f"mean {values.mean():.3g} ({values.min():.2g}..{values.max():.2g})"


def _node(obj, name):
    if isinstance(obj, Function):
        return Node(type(obj).__name__, "function")
    shape = f"shape {tuple(obj.shape)}"
    numbers = f"data {summary(obj.numpy())}"
    if obj.grad is not None:  # autograd keeps a gradient on leaves only, as PyTorch does
        numbers += f"\ngrad {summary(obj.grad.numpy())}"
    if obj._ctx is not None:
        return Node(f"{name}\n{shape}\n{numbers}" if name else f"{shape}\n{numbers}", "tensor")
    role = ("Parameter" if isinstance(obj, Parameter) else
            "requires_grad" if obj.requires_grad else "constant")
    return Node(f"{name}\n{shape}\n{role}\n{numbers}", role)


def _columns(nodes, edges):
    """column = last - the longest path to the output (Kahn's algorithm from the output back:
    a node is placed once all its consumers are), so every edge points right."""
    inputs, waiting, depth, ready = [[] for _ in nodes], [0] * len(nodes), [0] * len(nodes), [0]
    for a, b in edges:
        inputs[b].append(a)
        waiting[a] += 1
    while ready:
        v = ready.pop()
        for u in inputs[v]:
            depth[u] = max(depth[u], depth[v] + 1)
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    for node, d in zip(nodes, depth):
        node.column = max(depth) - d


def _rows(nodes, edges):
    """Each node's y and each Edge's route: an edge spanning several columns takes a row of
    its own (a waypoint) in every column it crosses, so it never runs behind a box. Columns are
    filled right to left, each sorted by where its items lead (fewer crossings)."""
    column, after, chains = [node.column for node in nodes], [[] for _ in nodes], []
    for a, b in edges:
        chain = [a]
        for c in range(nodes[a].column + 1, nodes[b].column):
            column.append(c)
            after.append([])
            chain.append(len(column) - 1)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            after[u].append(v)
        chains.append(chain)
    y = [0.0] * len(column)
    for c in range(max(column), -1, -1):
        members = sorted((i for i in range(len(column)) if column[i] == c),
                         key=lambda i: (-sum(y[j] for j in after[i]) / max(len(after[i]), 1), i))
        for row, i in enumerate(members):
            y[i] = (len(members) - 1) / 2 - row
    for node, value in zip(nodes, y):
        node.y = value
    return [Edge(a, b, tuple(y[i] for i in chain[1:-1])) for (a, b), chain in zip(edges, chains)]


def graph_nodes(output, names=None):
    """(nodes, edges) of the graph behind `output`, laid out: a Node per tensor and per Function
    (in the order met, from the output back), and an Edge(source, target, via) from each input
    tensor to its Function and from each Function to its output tensor (indices into nodes).
    Leaves are named from `names` (a dict name -> tensor), else x0, x1, ... in the order met.
    ValueError (one line) when backward() freed the graph or none was recorded."""
    if output._ctx is None and not output.requires_grad:
        raise ValueError(NO_GRAPH)
    objects, pairs = _walk(output)
    given, nodes, n_leaves = {id(t): name for name, t in (names or {}).items()}, [], 0
    for obj in objects:
        is_leaf = isinstance(obj, Tensor) and obj._ctx is None
        default = f"x{n_leaves}" if is_leaf else "output" if obj is output else None
        nodes.append(_node(obj, given.get(id(obj), default)))
        n_leaves += is_leaf
    _columns(nodes, pairs)
    return nodes, _rows(nodes, pairs)


def draw_graph(output, path=None, ax=None, names=None):
    """Draw the graph behind `output`; return the matplotlib Figure (saved to `path` if given).

    Square boxes are tensors: the leaves (inputs) with name (from `names`, a dict name ->
    tensor, else x0, x1, ...), shape and role, coloured by it (Parameter, requires_grad, or a
    constant that needs no gradient); white boxes, the tensors Functions computed. Each tensor
    box shows its data (the values when there are at most 4, else mean and range) and, after
    backward(retain_graph=True), the grad autograd stored: on the leaves that require grad, the
    only tensors it keeps one on. Rounded boxes are the Functions, by class name (Dense,
    Sigmoid, Sum...). Arrows follow the data, inputs left, output right. A lone leaf that
    requires grad is one box. ValueError (one line) when backward() freed the graph (draw before
    it, or after backward(retain_graph=True)) or none exists.
    """
    nodes, edges = graph_nodes(output, names)
    ax = _axes(ax, nodes, edges)
    _draw_boxes(ax, nodes)
    _draw_arrows(ax, nodes, edges)
    _draw_legend(ax, nodes)
    if path is not None:
        ax.figure.savefig(path, dpi=110)
    return ax.figure


def _axes(ax, nodes, edges):
    """`ax` (a new Figure's, sized to the layout, when None) with limits that fit the layout in
    inches, equal aspect, no frame."""
    import matplotlib.pyplot as plt

    n_columns = max(node.column for node in nodes) + 1
    half = max([abs(node.y) for node in nodes] + [abs(v) for e in edges for v in e.via]) * ROW
    width, height = (n_columns - 1) * COLUMN + BOX_W + 0.4, 2 * half + ROW + 0.3
    if ax is None:
        fig = plt.figure(figsize=(width, height + 0.4))
        ax = fig.add_axes((0, 0, 1, height / (height + 0.4)))
    ax.set(xlim=(-BOX_W / 2 - 0.2, width - BOX_W / 2 - 0.2), ylim=(-height / 2, height / 2),
           aspect="equal")
    ax.axis("off")
    return ax


def _draw_boxes(ax, nodes):
    """A box per node: rounded and bold for a Function, square and monospace for a tensor."""
    from matplotlib.patches import FancyBboxPatch

    for node in nodes:
        x, y, bold = node.column * COLUMN, node.y * ROW, node.kind == "function"
        ax.add_patch(FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H, facecolor=COLOURS[node.role],
            edgecolor="#555555", boxstyle="round,pad=0,rounding_size=0.25" if bold else
            "square,pad=0"))
        ax.text(x, y, node.label, ha="center", va="center", fontsize=11 if bold else 8,
                fontweight="bold" if bold else "normal", family=None if bold else "monospace")


def _draw_arrows(ax, nodes, edges):
    """An arrow per edge, from the right side of its source box to the left side of its target,
    straight through the gaps of the columns it crosses."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    for k, edge in enumerate(edges):
        a, b = nodes[edge.source], nodes[edge.target]
        points = [(a.column * COLUMN + BOX_W / 2, a.y * ROW)]
        for c, v in enumerate(edge.via, start=a.column + 1):  # straight past the column's boxes
            points += [(c * COLUMN - BOX_W / 2, v * ROW), (c * COLUMN + BOX_W / 2, v * ROW)]
        points.append((b.column * COLUMN - BOX_W / 2, b.y * ROW))
        codes = None
        if not edge.via and (edge.source, edge.target) in [e[:2] for e in edges[:k]]:
            (x0, y0), (x1, y1) = points  # an input used twice by one Function: bend the second
            points, codes = [(x0, y0), ((x0 + x1) / 2, (y0 + y1) / 2 + 0.5), (x1, y1)], \
                [Path.MOVETO, Path.CURVE3, Path.CURVE3]
        ax.add_patch(FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>", color="#333333",
                                     mutation_scale=12, shrinkA=0, shrinkB=0))


def _draw_legend(ax, nodes):
    """The colours of the roles present, in a row above the graph."""
    from matplotlib.patches import Patch

    roles = [role for role in COLOURS if any(node.role == role for node in nodes)]
    ax.legend(handles=[Patch(facecolor=COLOURS[r], edgecolor="#555555", label=r) for r in roles],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(roles), fontsize=8,
              frameon=False)
