//! A minimal test-side MPM encoder: enough to build payloads from trees and
//! to re-encode decoded trees byte for byte.

/// A data object to encode: a primitive value or a template of children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Value(String),
    Template(Vec<(u8, Node)>),
}

pub fn encode_objects(objects: &[(u8, Node)]) -> String {
    let mut out = String::new();
    for (id, node) in objects {
        let value = match node {
            Node::Value(v) => v.clone(),
            Node::Template(children) => encode_objects(children),
        };
        out.push_str(&format!("{id:02}{:02}{value}", value.chars().count()));
    }
    out
}

/// `000201` + objects + `6304` + CRC.
pub fn encode_payload(objects: &[(u8, Node)]) -> String {
    let mut out = String::from("000201");
    out.push_str(&encode_objects(objects));
    out.push_str("6304");
    let crc = qr::crc16(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));
    out
}

/// Re-encode a parsed tree from its parsed children (not the raw template
/// values), so a parser that lost or reordered anything is caught.
pub fn reencode(tree: &qr::tlv::Tree<'_>) -> String {
    reencode_level(tree, tree.objects())
}

fn reencode_level(tree: &qr::tlv::Tree<'_>, objects: &[qr::tlv::Tlv<'_>]) -> String {
    let mut out = String::new();
    for t in objects {
        let value = match tree.children(t) {
            Some(children) => reencode_level(tree, children),
            None => t.value.to_string(),
        };
        out.push_str(&format!("{:02}{:02}{value}", t.id, value.chars().count()));
    }
    out
}

/// A tree as `Node`s, for comparison with what was encoded.
pub fn to_nodes(tree: &qr::tlv::Tree<'_>) -> Vec<(u8, Node)> {
    nodes_level(tree, tree.objects())
}

fn nodes_level(tree: &qr::tlv::Tree<'_>, objects: &[qr::tlv::Tlv<'_>]) -> Vec<(u8, Node)> {
    objects
        .iter()
        .map(|t| {
            let node = match tree.children(t) {
                Some(children) => Node::Template(nodes_level(tree, children)),
                None => Node::Value(t.value.to_string()),
            };
            (t.id, node)
        })
        .collect()
}

pub fn v(s: &str) -> Node {
    Node::Value(s.to_string())
}

/// A valid generic code with the fields given, for error tests to break.
pub fn base_objects() -> Vec<(u8, Node)> {
    vec![
        (1, v("12")),
        (
            26,
            Node::Template(vec![(0, v("com.example")), (1, v("M123"))]),
        ),
        (52, v("5812")),
        (53, v("764")),
        (54, v("100.25")),
        (58, v("TH")),
        (59, v("SOM TAM HOUSE")),
        (60, v("BANGKOK")),
        (62, Node::Template(vec![(5, v("REF-1")), (7, v("T1"))])),
    ]
}

/// `base_objects` with `id` replaced by `node` (or removed for `None`).
pub fn with(id: u8, node: Option<Node>) -> Vec<(u8, Node)> {
    let mut objects = base_objects();
    match objects.iter().position(|(i, _)| *i == id) {
        Some(pos) => match node {
            Some(n) => {
                if let Some(slot) = objects.get_mut(pos) {
                    slot.1 = n;
                }
            }
            None => {
                objects.remove(pos);
            }
        },
        None => {
            if let Some(n) = node {
                objects.push((id, n));
            }
        }
    }
    objects
}

/// Objects (00 included, 63 left out) + `6304` + CRC.
pub fn encode_with_crc(objects: &[(u8, Node)]) -> String {
    let body: Vec<(u8, Node)> = objects
        .iter()
        .filter(|(id, _)| *id != 63)
        .cloned()
        .collect();
    let mut out = encode_objects(&body);
    out.push_str("6304");
    let crc = qr::crc16(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));
    out
}

/// `payload` with the object at `path` (`"53"`, `"26.01"`) set to `value`,
/// or removed for `None`, and the CRC made right again.
pub fn mutate(payload: &str, path: &str, value: Option<&str>) -> String {
    let tree = qr::tlv::parse(payload).expect("structurally sound base");
    let mut nodes = to_nodes(&tree);
    let ids: Vec<u8> = path
        .split('.')
        .map(|p| p.parse().expect("numeric path"))
        .collect();
    set(&mut nodes, &ids, value);
    encode_with_crc(&nodes)
}

fn set(nodes: &mut Vec<(u8, Node)>, path: &[u8], value: Option<&str>) {
    let [first, rest @ ..] = path else { return };
    let at = nodes.iter().position(|(id, _)| id == first);
    if rest.is_empty() {
        match (at, value) {
            (Some(i), Some(v)) => nodes[i].1 = Node::Value(v.to_string()),
            (Some(i), None) => {
                nodes.remove(i);
            }
            (None, Some(v)) => {
                // Before the CRC, which stays last.
                let end = nodes
                    .iter()
                    .position(|(id, _)| *id == 63)
                    .unwrap_or(nodes.len());
                nodes.insert(end, (*first, Node::Value(v.to_string())));
            }
            (None, None) => {}
        }
        return;
    }
    let i = match at {
        Some(i) => i,
        None => {
            let end = nodes
                .iter()
                .position(|(id, _)| *id == 63)
                .unwrap_or(nodes.len());
            nodes.insert(end, (*first, Node::Template(Vec::new())));
            end
        }
    };
    if let Node::Template(children) = &mut nodes[i].1 {
        set(children, rest, value);
    }
}
