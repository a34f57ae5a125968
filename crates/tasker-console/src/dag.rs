//! Run and template DAGs drawn as SVG on the server: a layered layout (each node in the layer
//! after its deepest parent, nodes of a layer ordered by the mean position of their parents to
//! keep edges short and uncrossed), boxes that tell their state by outline shape, glyph and
//! word as well as colour, and each box a link (so the drawing is keyboard-navigable).

use std::collections::VecDeque;

use maud::{Markup, html};

use crate::layout::glyph;

/// One box of the drawing.
#[derive(Debug, Clone)]
pub(crate) struct DagNode {
    /// The step's name (unique within the graph).
    pub(crate) name: String,
    /// What the box says on its first line (the name, or a batch's name and size).
    pub(crate) label: String,
    /// Its state (`template` for a template's DAG, `not_created` for a road not taken).
    pub(crate) state: String,
    /// The box's second line (the state, and what created the step).
    pub(crate) detail: String,
    /// Where the box links to.
    pub(crate) href: Option<String>,
    /// A class telling how the step came to be: `runtime` (created by a decision or a
    /// batch), `batch-group` (collapsed batch copies), `not-taken`, or empty.
    pub(crate) kind: &'static str,
}

impl DagNode {
    /// A box showing its name and state.
    pub(crate) fn plain(name: &str, state: &str, href: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            label: name.to_owned(),
            state: state.to_owned(),
            detail: state.to_owned(),
            href,
            kind: "",
        }
    }
}

/// Nodes and their edges (parent index, child index).
#[derive(Debug, Clone, Default)]
pub(crate) struct Dag {
    pub(crate) nodes: Vec<DagNode>,
    pub(crate) edges: Vec<(usize, usize)>,
}

impl Dag {
    /// A graph from named nodes and each node's parents by name (unknown names are ignored).
    pub(crate) fn from_parents(nodes: Vec<(DagNode, Vec<String>)>) -> Self {
        let index = |name: &str| nodes.iter().position(|(n, _)| n.name == name);
        let edges = nodes
            .iter()
            .enumerate()
            .flat_map(|(child, (_, parents))| {
                parents
                    .iter()
                    .filter_map(|p| index(p))
                    .map(move |parent| (parent, child))
            })
            .collect();
        Dag {
            edges,
            nodes: nodes.into_iter().map(|(n, _)| n).collect(),
        }
    }
}

const W: i64 = 170;
const H: i64 = 52;
const GAP_X: i64 = 60;
const GAP_Y: i64 = 20;
const PAD: i64 = 12;

/// Each node's layer and its position within the layer.
pub(crate) fn layout(dag: &Dag) -> Vec<(usize, usize)> {
    let n = dag.nodes.len();
    let mut indegree = vec![0usize; n];
    for &(_, child) in &dag.edges {
        indegree[child] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut queue: VecDeque<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    while let Some(v) = queue.pop_front() {
        for &(parent, child) in dag.edges.iter().filter(|(p, _)| *p == v) {
            layer[child] = layer[child].max(layer[parent] + 1);
            indegree[child] -= 1;
            if indegree[child] == 0 {
                queue.push_back(child);
            }
        }
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut position = vec![0usize; n];
    for l in 0..layers {
        let mut members: Vec<(f64, usize)> = (0..n)
            .filter(|&v| layer[v] == l)
            .map(|v| {
                let parents: Vec<f64> = dag
                    .edges
                    .iter()
                    .filter(|(p, c)| *c == v && layer[*p] < l)
                    .map(|(p, _)| position[*p] as f64)
                    .collect();
                let centre = if parents.is_empty() {
                    v as f64
                } else {
                    parents.iter().sum::<f64>() / parents.len() as f64
                };
                (centre, v)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (i, (_, v)) in members.into_iter().enumerate() {
            position[v] = i;
        }
    }
    layer.into_iter().zip(position).collect()
}

fn label(name: &str) -> String {
    clip(name, 20)
}

/// `text` cut to `max` characters, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        let short: String = text.chars().take(max - 1).collect();
        format!("{short}…")
    } else {
        text.to_owned()
    }
}

/// The SVG drawing of `dag`, labelled `title` for assistive technology.
pub(crate) fn svg(dag: &Dag, title: &str) -> Markup {
    let placed = layout(dag);
    let columns = placed.iter().map(|p| p.0 + 1).max().unwrap_or(1) as i64;
    let mut per_column = vec![0i64; columns as usize];
    for (l, _) in &placed {
        per_column[*l] += 1;
    }
    let rows = per_column.iter().copied().max().unwrap_or(1).max(1);
    let height = PAD * 2 + rows * H + (rows - 1) * GAP_Y;
    let width = PAD * 2 + columns * W + (columns - 1) * GAP_X;
    let at = |v: usize| {
        let (l, i) = placed[v];
        let offset = (rows - per_column[l]) * (H + GAP_Y) / 2;
        (
            PAD + l as i64 * (W + GAP_X),
            PAD + offset + i as i64 * (H + GAP_Y),
        )
    };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title)
            width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } {
            title { (title) }
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto" {
                    path d="M0,0 L10,5 L0,10 z" fill="#94a3b8" {}
                }
            }
            @for &(p, c) in &dag.edges {
                @let ((x1, y1), (x2, y2)) = (at(p), at(c));
                @let (sx, sy, ex, ey) = (x1 + W, y1 + H / 2, x2, y2 + H / 2);
                @let mid = (sx + ex) / 2;
                path.edge marker-end="url(#arrow)"
                    d={ "M" (sx) "," (sy) " C" (mid) "," (sy) " " (mid) "," (ey) " " (ex) "," (ey) } {}
            }
            @for (v, node) in dag.nodes.iter().enumerate() {
                @let (x, y) = at(v);
                @let body = node_box(node, x, y);
                @if let Some(href) = &node.href {
                    a href=(href) { (body) }
                } @else {
                    (body)
                }
            }
        }
    }
}

fn node_class(node: &DagNode) -> String {
    if node.kind.is_empty() {
        format!("node n-{}", node.state)
    } else {
        format!("node n-{} k-{}", node.state, node.kind)
    }
}

fn node_box(node: &DagNode, x: i64, y: i64) -> Markup {
    html! {
        g class=(node_class(node)) data-step=(node.name) data-state=(node.state) {
            title { (node.label) ": " (node.detail) }
            rect x=(x) y=(y) width=(W) height=(H) rx="8" {}
            @if node.kind == "batch-group" {
                rect.stack x=(x + 4) y=(y + 4) width=(W - 8) height=(H - 8) rx="6" {}
            }
            text.glyph x=(x + 10) y=(y + 22) aria-hidden="true" { (glyph(&node.state)) }
            text x=(x + 30) y=(y + 22) { (label(&node.label)) }
            text.detail x=(x + 30) y=(y + 41) { (clip(&node.detail, 24)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> DagNode {
        DagNode::plain(name, "pending", None)
    }

    fn diamond() -> Dag {
        Dag::from_parents(vec![
            (node("a"), vec![]),
            (node("b"), vec!["a".into()]),
            (node("c"), vec!["a".into()]),
            (node("d"), vec!["b".into(), "c".into()]),
        ])
    }

    #[test]
    fn a_diamond_has_three_layers_with_the_branches_side_by_side() {
        let placed = layout(&diamond());
        assert_eq!(placed, vec![(0, 0), (1, 0), (1, 1), (2, 0)]);
    }

    #[test]
    fn a_node_sits_one_layer_after_its_deepest_parent() {
        let dag = Dag::from_parents(vec![
            (node("a"), vec![]),
            (node("b"), vec!["a".into()]),
            (node("c"), vec!["a".into(), "b".into()]),
        ]);
        assert_eq!(layout(&dag)[2].0, 2);
    }

    #[test]
    fn names_are_escaped_and_every_edge_is_drawn() {
        let mut dag = diamond();
        dag.nodes[0].label = "<script>x</script>".to_owned();
        let text = svg(&dag, "run").into_string();
        assert!(!text.contains("<script>"));
        assert!(text.contains("&lt;script&gt;"));
        assert_eq!(text.matches("class=\"edge\"").count(), 4);
        assert_eq!(text.matches("data-step=").count(), 4);
    }
}
