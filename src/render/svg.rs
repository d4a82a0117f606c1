//! The system as an SVG drawing, laid out here so that the HTML report needs
//! no script, no CDN and no Graphviz: a simple layered (Sugiyama-style)
//! layout, left to right.
//!
//! Layers come from the longest path from the services nothing calls, after
//! setting aside the edges that close a cycle; a few barycentre sweeps order
//! each layer to keep crossings down. Edges are cubic curves, solid for
//! synchronous transports and dashed for Kafka, in the transport's colour;
//! edges that run backwards arc below the nodes.

// Counts of services and characters become coordinates; they are far below
// 2^52, where an f64 stops being exact.
#![allow(clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::engine::evaluate::Report;
use crate::render::diagram::{Diagram, color};
use crate::render::escape::html as escape;
use crate::spec::model::{FlowsFile, Transport};

const MARGIN: f64 = 24.0;
const NODE_HEIGHT: f64 = 40.0;
const ROW_GAP: f64 = 36.0;
/// Room below the nodes for edges that run backwards.
const BACK_ROOM: f64 = 70.0;
/// Approximate advance of one character of the label font.
const LABEL_CHAR: f64 = 6.6;
const NODE_CHAR: f64 = 7.8;

/// An `<svg>` element of the report's services and flows.
pub fn render(file: &FlowsFile, report: &Report) -> String {
    let diagram = Diagram::of(file, report);
    let layout = Layout::of(&diagram);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"diagram\" viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" role=\"img\" aria-labelledby=\"diagram-title\" font-family=\"system-ui, -apple-system, 'Segoe UI', sans-serif\">",
        w = layout.width,
        h = layout.height
    );
    let _ = writeln!(
        out,
        "<title id=\"diagram-title\">Services and flows of {}</title>",
        escape(&report.system)
    );
    out.push_str("<defs>\n");
    for t in Transport::ALL {
        let _ = writeln!(
            out,
            "<marker id=\"arrow-{t}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"4\" markerHeight=\"4\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            color(*t)
        );
    }
    out.push_str("</defs>\n<g class=\"edges\" fill=\"none\" stroke-width=\"3\">\n");
    let mut labels = String::new();
    for (edge, curve) in diagram.edges.iter().zip(&layout.curves) {
        let Some(curve) = curve else { continue };
        let c = color(edge.transport);
        let dash = if edge.synchronous() {
            ""
        } else {
            " stroke-dasharray=\"9 6\""
        };
        let _ = writeln!(
            out,
            "<path class=\"edge {t}\" d=\"{d}\" stroke=\"{c}\"{dash} marker-end=\"url(#arrow-{t})\"><title>{title}</title></path>",
            t = edge.transport,
            d = curve.path(),
            title = escape(&format!(
                "{}: {} → {} ({})",
                edge.flow, edge.from, edge.to, edge.transport
            )),
        );
        let (x, y) = curve.middle();
        let _ = writeln!(
            labels,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" fill=\"{c}\">{}</text>",
            escape(&edge.label())
        );
    }
    out.push_str("</g>\n<g class=\"labels\" font-size=\"11\" text-anchor=\"middle\" dominant-baseline=\"middle\" stroke=\"#ffffff\" stroke-width=\"4\" paint-order=\"stroke\">\n");
    out.push_str(&labels);
    out.push_str("</g>\n<g class=\"nodes\" font-size=\"13\" text-anchor=\"middle\" dominant-baseline=\"middle\">\n");
    for (service, node) in diagram.services.iter().zip(&layout.nodes) {
        let _ = writeln!(
            out,
            "<g class=\"node\"><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{NODE_HEIGHT:.1}\" rx=\"8\" fill=\"#fafafa\" stroke=\"#424242\" stroke-width=\"1.5\"/><text x=\"{cx:.1}\" y=\"{cy:.1}\" fill=\"#212121\">{name}</text></g>",
            x = node.x,
            y = node.y,
            w = layout.node_width,
            cx = node.x + layout.node_width / 2.0,
            cy = node.y + NODE_HEIGHT / 2.0,
            name = escape(service)
        );
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// Where a node goes: its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    x: f64,
    y: f64,
}

/// A cubic Bézier curve from `p[0]` to `p[3]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Curve {
    p: [(f64, f64); 4],
}

impl Curve {
    fn path(&self) -> String {
        let [a, b, c, d] = self.p;
        format!(
            "M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
            a.0, a.1, b.0, b.1, c.0, c.1, d.0, d.1
        )
    }

    /// The point at t = ½, where the label goes.
    fn middle(&self) -> (f64, f64) {
        let [a, b, c, d] = self.p;
        (
            (a.0 + 3.0 * b.0 + 3.0 * c.0 + d.0) / 8.0,
            (a.1 + 3.0 * b.1 + 3.0 * c.1 + d.1) / 8.0,
        )
    }
}

struct Layout {
    nodes: Vec<Node>,
    /// One per diagram edge; `None` for an edge to an unknown service.
    curves: Vec<Option<Curve>>,
    node_width: f64,
    width: f64,
    height: f64,
}

impl Layout {
    fn of(diagram: &Diagram) -> Layout {
        let n = diagram.services.len();
        let pairs: Vec<Option<(usize, usize)>> = diagram
            .edges
            .iter()
            .map(|e| Some((diagram.index(e.from)?, diagram.index(e.to)?)))
            .collect();
        let forward = forward_edges(n, &pairs);
        let layer = layers(n, &forward);
        let rows = order(n, &layer, &forward);

        let longest_name = diagram
            .services
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(4);
        let node_width = (longest_name as f64 * NODE_CHAR + 32.0).max(96.0);
        let longest_label = diagram
            .edges
            .iter()
            .map(|e| e.label().chars().count())
            .max()
            .unwrap_or(0);
        let layer_gap = (longest_label as f64 * LABEL_CHAR + 40.0).max(180.0);
        let tallest = rows.iter().map(Vec::len).max().unwrap_or(1) as f64;
        let column_height = tallest * NODE_HEIGHT + (tallest - 1.0).max(0.0) * ROW_GAP;

        let mut nodes = vec![Node { x: 0.0, y: 0.0 }; n];
        for (l, row) in rows.iter().enumerate() {
            let height =
                row.len() as f64 * NODE_HEIGHT + (row.len() as f64 - 1.0).max(0.0) * ROW_GAP;
            let top = MARGIN + 20.0 + (column_height - height) / 2.0;
            for (i, &v) in row.iter().enumerate() {
                nodes[v] = Node {
                    x: MARGIN + l as f64 * (node_width + layer_gap),
                    y: top + i as f64 * (NODE_HEIGHT + ROW_GAP),
                };
            }
        }
        let curves = curves(&pairs, &nodes, &layer, node_width);
        let columns = rows.len().max(1) as f64;
        let backwards = pairs.iter().flatten().any(|&(a, b)| layer[b] <= layer[a]);
        Layout {
            nodes,
            curves,
            node_width,
            width: 2.0 * MARGIN + columns * node_width + (columns - 1.0) * layer_gap,
            height: 2.0 * MARGIN + 20.0 + column_height + if backwards { BACK_ROOM } else { 0.0 },
        }
    }
}

/// Which edges point forward once the edges that close a cycle (found by a
/// depth-first search in service order) are set aside; self-loops never do.
fn forward_edges(n: usize, pairs: &[Option<(usize, usize)>]) -> Vec<(usize, usize)> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut linked = std::collections::HashSet::new();
    for &(a, b) in pairs.iter().flatten() {
        if a != b && linked.insert((a, b)) {
            out[a].push(b);
        }
    }
    // 0 unseen, 1 on the current path, 2 done.
    let mut state = vec![0u8; n];
    let mut forward = Vec::new();
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(&(v, i)) = stack.last() {
            if let Some(&w) = out[v].get(i) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match state[w] {
                    0 => {
                        forward.push((v, w));
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    2 => forward.push((v, w)),
                    _ => {} // closes a cycle
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    forward
}

/// The longest path from a source to each node, over forward edges.
fn layers(n: usize, forward: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in forward {
        indegree[b] += 1;
        out[a].push(b);
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).rev().collect();
    while let Some(v) = ready.pop() {
        for &w in &out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    layer
}

/// The nodes of each layer, top to bottom: by name first, then by the
/// average row of their neighbours in the layer before (and after), which
/// straightens edges and removes most crossings in small systems.
fn order(n: usize, layer: &[usize], forward: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for v in 0..n {
        rows[layer[v]].push(v);
    }
    // Neighbours in the layer before and the layer after, for the sweeps.
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in forward {
        if layer[a] + 1 == layer[b] {
            before[b].push(a);
            after[a].push(b);
        }
    }
    let mut row_of = vec![0.0f64; n];
    let place = |rows: &Vec<Vec<usize>>, row_of: &mut Vec<f64>| {
        for row in rows {
            for (i, &v) in row.iter().enumerate() {
                row_of[v] = i as f64;
            }
        }
    };
    place(&rows, &mut row_of);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let layers: Vec<usize> = if down {
            (1..depth).collect()
        } else {
            (0..depth.saturating_sub(1)).rev().collect()
        };
        for l in layers {
            let key = |v: usize| {
                let neighbours = if down { &before[v] } else { &after[v] };
                if neighbours.is_empty() {
                    row_of[v]
                } else {
                    neighbours.iter().map(|&w| row_of[w]).sum::<f64>() / neighbours.len() as f64
                }
            };
            let mut keyed: Vec<(f64, usize)> = rows[l].iter().map(|&v| (key(v), v)).collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rows[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in rows[l].iter().enumerate() {
                row_of[v] = i as f64;
            }
        }
    }
    rows
}

/// A curve per edge; edges between the same two services fan apart.
fn curves(
    pairs: &[Option<(usize, usize)>],
    nodes: &[Node],
    layer: &[usize],
    width: f64,
) -> Vec<Option<Curve>> {
    let mut totals: HashMap<(usize, usize), usize> = HashMap::new();
    for pair in pairs.iter().flatten() {
        *totals.entry(*pair).or_default() += 1;
    }
    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    pairs
        .iter()
        .map(|pair| {
            let (from, to) = (*pair)?;
            let count = seen.entry((from, to)).or_default();
            let nth = *count as f64;
            *count += 1;
            let total = totals[&(from, to)] as f64;
            let spread = (nth - (total - 1.0) / 2.0) * 22.0;
            let (source, target) = (nodes[from], nodes[to]);
            Some(if from == to {
                // A loop over the top of the node.
                let (x, y) = (source.x + width / 2.0, source.y);
                let lift = 46.0 + nth * 14.0;
                Curve {
                    p: [
                        (x + 18.0, y),
                        (x + 60.0, y - lift),
                        (x - 60.0, y - lift),
                        (x - 18.0, y - 3.0),
                    ],
                }
            } else if layer[to] > layer[from] {
                let start = (
                    source.x + width,
                    source.y + NODE_HEIGHT / 2.0 + spread / 3.0,
                );
                let end = (target.x - 2.0, target.y + NODE_HEIGHT / 2.0 + spread / 3.0);
                let dx = (end.0 - start.0) / 2.0;
                Curve {
                    p: [
                        start,
                        (start.0 + dx, start.1 + spread),
                        (end.0 - dx, end.1 + spread),
                        end,
                    ],
                }
            } else {
                // Backwards or within a layer: arc below both nodes.
                let start = (
                    source.x + width / 2.0 + spread / 2.0,
                    source.y + NODE_HEIGHT,
                );
                let end = (
                    target.x + width / 2.0 + spread / 2.0,
                    target.y + NODE_HEIGHT + 2.0,
                );
                let drop = 40.0 + nth * 16.0 + (start.0 - end.0).abs() * 0.08;
                let bottom = start.1.max(end.1) + drop;
                Curve {
                    p: [start, (start.0, bottom), (end.0, bottom), end],
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_takes_one_layer_per_hop() {
        let forward = forward_edges(3, &[Some((0, 1)), Some((1, 2))]);
        assert_eq!(layers(3, &forward), [0, 1, 2]);
    }

    #[test]
    fn the_edge_closing_a_cycle_is_set_aside() {
        let forward = forward_edges(2, &[Some((0, 1)), Some((1, 0))]);
        assert_eq!(forward, [(0, 1)]);
        assert_eq!(layers(2, &forward), [0, 1]);
    }

    #[test]
    fn a_layer_follows_its_callers_order() {
        // 0 → 3 and 1 → 2: after sweeping, 3 sits level with 0, above 2.
        let forward = [(0, 3), (1, 2)];
        let layer = [0, 0, 1, 1];
        assert_eq!(order(4, &layer, &forward), [vec![0, 1], vec![3, 2]]);
    }

    #[test]
    fn a_label_sits_at_the_middle_of_its_curve() {
        let c = Curve {
            p: [(0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0)],
        };
        assert_eq!(c.middle(), (5.0, 7.5));
    }
}
