//! DAG checks over step names: cycle detection (reporting the cycle) and topological order.

use std::collections::HashMap;

/// Finds a dependency cycle. `edges` maps each node to its parents. The returned path starts
/// and ends with the same node, following `depends_on` links.
pub fn find_cycle(edges: &[(&str, Vec<&str>)]) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let index: HashMap<&str, usize> = edges.iter().enumerate().map(|(i, e)| (e.0, i)).collect();
    let mut marks = vec![Mark::New; edges.len()];
    for start in 0..edges.len() {
        if marks[start] != Mark::New {
            continue;
        }
        // Iterative DFS: a stack of (node, next parent position) plus the active path.
        let mut stack = vec![(start, 0usize)];
        marks[start] = Mark::Active;
        while let Some(&mut (node, ref mut pos)) = stack.last_mut() {
            let parents = &edges[node].1;
            if *pos < parents.len() {
                let next = parents[*pos];
                *pos += 1;
                let Some(&p) = index.get(next) else { continue };
                match marks[p] {
                    Mark::New => {
                        marks[p] = Mark::Active;
                        stack.push((p, 0));
                    }
                    Mark::Active => {
                        let from = stack.iter().position(|(n, _)| *n == p).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|(n, _)| edges[*n].0.to_owned())
                            .collect();
                        cycle.push(edges[p].0.to_owned());
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// Orders nodes so every node follows its parents (stable with respect to input order).
/// Returns `None` when there is a cycle.
pub fn topological_order<'a>(edges: &[(&'a str, Vec<&'a str>)]) -> Option<Vec<&'a str>> {
    let mut done: Vec<&str> = Vec::with_capacity(edges.len());
    let mut remaining: Vec<&(&str, Vec<&str>)> = edges.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|(name, parents)| {
            if parents.iter().all(|p| done.contains(p)) {
                done.push(name);
                false
            } else {
                true
            }
        });
        if remaining.len() == before {
            return None;
        }
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acyclic_graph_has_no_cycle_and_orders_parents_first() {
        let edges = vec![
            ("d", vec!["b", "c"]),
            ("b", vec!["a"]),
            ("c", vec!["a"]),
            ("a", vec![]),
        ];
        assert_eq!(find_cycle(&edges), None);
        let order = topological_order(&edges).unwrap();
        assert_eq!(order[0], "a");
        assert_eq!(order[3], "d");
    }

    #[test]
    fn cycle_is_reported_as_a_path() {
        let edges = vec![
            ("x", vec![]),
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
        ];
        let cycle = find_cycle(&edges).unwrap();
        assert_eq!(cycle.first(), cycle.last());
        assert_eq!(cycle.len(), 4);
        assert!(topological_order(&edges).is_none());
    }
}
