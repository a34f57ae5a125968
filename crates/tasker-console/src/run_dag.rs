//! A task's run DAG (the API's `GET /v1/tasks/{task}/dag`) turned into a drawing: template
//! steps the run did not create are drawn as roads not taken, steps created at runtime say
//! what created them, and the copies of a batch with more than [`COLLAPSE_OVER`] members are
//! one box (linking to the page with that batch expanded) counting its copies by state.

use std::collections::{BTreeMap, HashMap, HashSet};

use tasker_proto::api::DagView;

use crate::dag::{Dag, DagNode};

/// A batch with more copies than this is drawn as one box unless expanded.
pub(crate) const COLLAPSE_OVER: usize = 10;

/// Status of a template step the run did not create.
pub(crate) const NOT_CREATED: &str = "not_created";

/// The copies of one batch worker drawn as one box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// The batch worker's template step name.
    pub(crate) worker: String,
    /// Copies by state.
    pub(crate) states: BTreeMap<String, usize>,
}

impl Batch {
    /// How many copies.
    pub(crate) fn count(&self) -> usize {
        self.states.values().sum()
    }

    /// The state the box shows: a failure first, then work in progress, then waiting, and
    /// complete only when every copy is.
    pub(crate) fn state(&self) -> &'static str {
        const ORDER: [&str; 7] = [
            "error",
            "in_progress",
            "enqueued",
            "waiting_for_retry",
            "pending",
            "cancelled",
            "resolved_manually",
        ];
        ORDER
            .iter()
            .find(|s| self.states.contains_key(**s))
            .copied()
            .unwrap_or("complete")
    }

    /// `97 complete, 2 in_progress, 1 error`.
    pub(crate) fn summary(&self) -> String {
        self.states
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The worker a batch copy belongs to: its name without the `_<index>` suffix (the index
/// may be zero-padded: `sum_part_07`).
pub(crate) fn worker_of(name: &str, batch_index: Option<u32>) -> Option<&str> {
    let index = batch_index?;
    let (worker, digits) = name.rsplit_once('_')?;
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    (numeric && digits.parse::<u32>().ok() == Some(index)).then_some(worker)
}

/// The batches to collapse: more than [`COLLAPSE_OVER`] copies and not the one expanded.
pub(crate) fn collapsed_batches<'a>(
    copies: impl Iterator<Item = (&'a str, Option<u32>, &'a str)>,
    expand: Option<&str>,
) -> Vec<Batch> {
    let mut by_worker: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (name, index, state) in copies {
        if let Some(worker) = worker_of(name, index) {
            *by_worker
                .entry(worker)
                .or_default()
                .entry(state.to_owned())
                .or_default() += 1;
        }
    }
    by_worker
        .into_iter()
        .filter(|(worker, states)| {
            states.values().sum::<usize>() > COLLAPSE_OVER && Some(*worker) != expand
        })
        .map(|(worker, states)| Batch {
            worker: worker.to_owned(),
            states,
        })
        .collect()
}

/// The drawing of a run; `page` is the task page's path (boxes of collapsed batches link to
/// it with `?expand=`), `step_href` gives a created step's link.
pub(crate) fn drawing(
    view: &DagView,
    expand: Option<&str>,
    page: &str,
    step_href: impl Fn(uuid::Uuid) -> String,
) -> (Dag, Vec<Batch>) {
    let batches = collapsed_batches(
        view.nodes
            .iter()
            .map(|n| (n.name.as_str(), n.batch_index, n.status.as_str())),
        expand,
    );
    let collapsed: HashMap<&str, &Batch> = batches.iter().map(|b| (b.worker.as_str(), b)).collect();
    let mut nodes: Vec<DagNode> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for n in &view.nodes {
        if let Some(batch) = worker_of(&n.name, n.batch_index).and_then(|w| collapsed.get(w)) {
            if !index.contains_key(batch.worker.as_str()) {
                index.insert(batch.worker.as_str(), nodes.len());
                nodes.push(DagNode {
                    name: batch.worker.clone(),
                    label: format!("{} ×{}", batch.worker, batch.count()),
                    state: batch.state().to_owned(),
                    detail: format!("batch of {} · expand", batch.count()),
                    href: Some(format!(
                        "{page}?expand={}#dag",
                        crate::layout::query_escape(&batch.worker)
                    )),
                    kind: "batch-group",
                });
            }
            let at = index[batch.worker.as_str()];
            index.insert(n.name.as_str(), at);
            continue;
        }
        let (detail, kind) = if n.status == NOT_CREATED {
            ("not taken".to_owned(), "not-taken")
        } else if let Some(i) = n.batch_index {
            (format!("{} · copy {i}", n.status), "runtime")
        } else if n.origin == "decision" {
            (format!("{} · by decision", n.status), "runtime")
        } else {
            (n.status.clone(), "")
        };
        index.insert(n.name.as_str(), nodes.len());
        nodes.push(DagNode {
            name: n.name.clone(),
            label: n.name.clone(),
            state: n.status.clone(),
            detail,
            href: n.step_uuid.map(&step_href),
            kind,
        });
    }
    let mut seen = HashSet::new();
    let edges = view
        .edges
        .iter()
        .filter_map(|e| Some((*index.get(e.from.as_str())?, *index.get(e.to.as_str())?)))
        .filter(|(p, c)| p != c && seen.insert((*p, *c)))
        .collect();
    (Dag { nodes, edges }, batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tasker_proto::api::{DagEdge, DagNode as ApiNode};

    fn node(name: &str, status: &str, origin: &str, batch_index: Option<u32>) -> ApiNode {
        ApiNode {
            name: name.to_owned(),
            step_uuid: (status != NOT_CREATED).then(uuid::Uuid::new_v4),
            step_type: "standard".to_owned(),
            status: status.to_owned(),
            origin: origin.to_owned(),
            batch_index,
        }
    }

    fn edge(from: &str, to: &str) -> DagEdge {
        DagEdge {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    /// split → `copies` copies of `work` → join, and a branch not taken.
    fn fan_out(copies: u32) -> DagView {
        let mut nodes = vec![node("split", "complete", "template", None)];
        let mut edges = Vec::new();
        for i in 0..copies {
            let status = if i == 0 { "error" } else { "complete" };
            nodes.push(node(&format!("work_{i}"), status, "batch", Some(i)));
            edges.push(edge("split", &format!("work_{i}")));
            edges.push(edge(&format!("work_{i}"), "join"));
        }
        nodes.push(node("join", "pending", "template", None));
        nodes.push(node("other_branch", NOT_CREATED, "decision", None));
        edges.push(edge("split", "other_branch"));
        DagView { nodes, edges }
    }

    fn draw(view: &DagView, expand: Option<&str>) -> (Dag, Vec<Batch>) {
        drawing(view, expand, "/ui/tasks/t", |u| format!("/ui/steps/{u}"))
    }

    #[test]
    fn many_copies_are_one_box_counting_them_by_state() {
        let (dag, batches) = draw(&fan_out(25), None);
        assert_eq!(
            dag.nodes.len(),
            4,
            "split, the batch, join, the branch not taken"
        );
        let batch = &dag.nodes[1];
        assert_eq!(batch.label, "work ×25");
        assert_eq!(batch.state, "error");
        assert_eq!(batch.href.as_deref(), Some("/ui/tasks/t?expand=work#dag"));
        assert_eq!(batches[0].summary(), "24 complete, 1 error");
        assert_eq!(dag.edges, vec![(0, 1), (1, 2), (0, 3)]);
    }

    #[test]
    fn an_expanded_batch_and_a_small_one_show_every_copy() {
        let (dag, batches) = draw(&fan_out(25), Some("work"));
        assert_eq!(dag.nodes.len(), 28);
        assert!(batches.is_empty());
        let (dag, _) = draw(&fan_out(COLLAPSE_OVER as u32), None);
        assert_eq!(dag.nodes.len(), COLLAPSE_OVER + 3);
        assert_eq!(dag.nodes[1].detail, "error · copy 0");
    }

    #[test]
    fn a_road_not_taken_is_drawn_without_a_link() {
        let (dag, _) = draw(&fan_out(2), None);
        let branch = dag.nodes.iter().find(|n| n.name == "other_branch").unwrap();
        assert_eq!(branch.kind, "not-taken");
        assert_eq!(branch.href, None);
        assert_eq!(branch.detail, "not taken");
    }

    #[test]
    fn a_copy_name_without_its_index_is_not_grouped() {
        assert_eq!(worker_of("work_3", Some(3)), Some("work"));
        assert_eq!(worker_of("sum_part_07", Some(7)), Some("sum_part"));
        assert_eq!(worker_of("sum_part_+7", Some(7)), None);
        assert_eq!(worker_of("work_3", Some(4)), None);
        assert_eq!(worker_of("work", None), None);
    }
}
