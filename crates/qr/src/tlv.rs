//! The EMVCo MPM ID-length-value layer: two-digit id, two-digit length that
//! counts characters (not bytes), then the value. Templates are parsed one
//! level down (two for the 50-99 templates inside tag 62). Values borrow from
//! the payload; nothing is copied.

use crate::error::{DecodeError, ErrorCode};

/// One data object as it stands in the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The two-digit id, 0..=99.
    pub id: u8,
    /// The raw value, exactly as in the payload.
    pub value: &'a str,
    /// Zero-based character offset of the id in the whole payload.
    pub position: usize,
    /// Where the parsed sub-objects sit in the tree's node list, when the id
    /// is a template id and the value parsed as ID-length-value; `None` for
    /// primitives and for template values that did not parse (see
    /// [`Tree::faults`]). Read them with [`Tree::children`].
    /// Two u16s keep a node at 32 bytes, so a typical code's node list fits
    /// the allocator's small-object size (a payload with more than 65,535
    /// objects is refused).
    span: Option<(u16, u16)>,
    /// The id of the enclosing template (`NO_PARENT` at the top level).
    parent: u8,
}

const NO_PARENT: u8 = u8::MAX;

impl Tlv<'_> {
    /// Whether the value parsed as a template.
    pub fn is_template(&self) -> bool {
        self.span.is_some()
    }
}

/// Where a template value failed to parse as ID-length-value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Tag path of the template, e.g. `26` or `62.50`.
    pub path: String,
    pub error: DecodeError,
}

/// A parsed payload. Every data object of every level sits in one list (one
/// allocation): the top level first, then each template's children
/// together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree<'a> {
    nodes: Vec<Tlv<'a>>,
    top: usize,
    /// Template values that are not well-formed ID-length-value. They stay in
    /// the tree as primitives; whether that is an error is the profile's call.
    pub faults: Vec<Fault>,
    /// Whether some level holds an id twice or an empty value, noticed while
    /// parsing so that the validator walks the tree for them only then.
    repeats_or_empties: bool,
    /// Whether the whole payload is printable ASCII (0x20-0x7E), EMVCo's
    /// common character set: learnt in the pass that tells ASCII.
    printable: bool,
}

impl<'a> Tree<'a> {
    /// The top-level objects in payload order.
    pub fn objects(&self) -> &[Tlv<'a>] {
        self.nodes.get(..self.top).unwrap_or_default()
    }

    /// The sub-objects of a parsed template, in payload order.
    pub fn children(&self, t: &Tlv<'a>) -> Option<&[Tlv<'a>]> {
        let (start, len) = t.span?;
        let start = usize::from(start);
        self.nodes.get(start..start + usize::from(len))
    }

    /// Whether some level holds an id twice or an empty value (when `false`,
    /// no level does).
    pub fn has_repeats_or_empties(&self) -> bool {
        self.repeats_or_empties
    }

    /// Whether the whole payload is printable ASCII (when `false`, some
    /// character is outside 0x20-0x7E).
    pub fn is_printable(&self) -> bool {
        self.printable
    }

    /// The child with `id` of a parsed template.
    pub fn child(&self, t: &Tlv<'a>, id: u8) -> Option<&Tlv<'a>> {
        self.children(t)?.iter().find(|c| c.id == id)
    }

    /// The value of the child with `id`.
    pub fn child_value(&self, t: &Tlv<'a>, id: u8) -> Option<&'a str> {
        self.child(t, id).map(|c| c.value)
    }
}

/// Which ids hold templates, by the id of the enclosing template (`None` at
/// the top level). EMVCo MPM: 26-51 merchant account information, 62
/// additional data, 64 language, 80-99 unreserved; inside 62, 50-99 are
/// payment-system-specific templates.
pub fn is_template(parent: Option<u8>, id: u8) -> bool {
    match parent {
        None => matches!(id, 26..=51 | 62 | 64 | 80..=99),
        Some(62) => matches!(id, 50..=99),
        Some(_) => false,
    }
}

/// Parse a whole payload into its top-level objects, descending into
/// templates.
pub fn parse(payload: &str) -> Result<Tree<'_>, DecodeError> {
    // One pass (which the compiler vectorises) for the smallest and largest
    // byte tells both ASCII and printable ASCII.
    let (low, high) = payload
        .bytes()
        .fold((u8::MAX, 0u8), |(low, high), b| (low.min(b), high.max(b)));
    let ascii = high < 0x80;
    let printable = payload.is_empty() || (low >= b' ' && high <= b'~');
    // A typical code has about 25 objects in all.
    let mut nodes = Vec::with_capacity(32);
    let mut repeats_or_empties = false;
    parse_level(
        payload,
        ascii,
        0,
        NO_PARENT,
        &mut nodes,
        &mut repeats_or_empties,
    )
    .map_err(|e| *e)?;
    let top = nodes.len();
    if top > usize::from(u16::MAX) {
        return Err(too_many_objects());
    }
    let mut faults = Vec::new();
    // Breadth first: each template's children are appended together, after
    // everything before them; templates inside templates (62's 50-99) are
    // reached when the loop gets to them. Only the top level and 62's
    // children can hold templates, so the loop looks no further.
    let mut i = 0;
    while let Some(node) = nodes.get(i) {
        i += 1;
        let parent = match node.parent {
            NO_PARENT => None,
            62 => Some(62),
            _ => continue,
        };
        if !is_template(parent, node.id) {
            continue;
        }
        let t = *node;
        let start = nodes.len();
        match parse_level(
            t.value,
            ascii,
            t.position + 4,
            t.id,
            &mut nodes,
            &mut repeats_or_empties,
        ) {
            Ok(()) => {
                let (Ok(first), Ok(count)) =
                    (u16::try_from(start), u16::try_from(nodes.len() - start))
                else {
                    return Err(too_many_objects());
                };
                if let Some(n) = nodes.get_mut(i - 1) {
                    n.span = Some((first, count));
                }
            }
            Err(error) => {
                nodes.truncate(start);
                let path = match parent {
                    Some(p) => join_path(&format!("{p:02}"), t.id),
                    None => join_path("", t.id),
                };
                faults.push(Fault {
                    path,
                    error: *error,
                });
            }
        }
    }
    Ok(Tree {
        nodes,
        top,
        faults,
        repeats_or_empties,
        printable,
    })
}

fn too_many_objects() -> DecodeError {
    DecodeError::new(
        ErrorCode::PayloadTooLarge,
        format!("payload holds more than {} data objects", u16::MAX),
    )
}

fn parse_level<'a>(
    text: &'a str,
    ascii: bool,
    base: usize,
    parent: u8,
    nodes: &mut Vec<Tlv<'a>>,
    repeats_or_empties: &mut bool,
) -> Result<(), Box<DecodeError>> {
    let first = nodes.len();
    if ascii && parse_ascii_level(text, base, parent, nodes, repeats_or_empties) {
        return Ok(());
    }
    // Not ASCII, or not well-formed: the general reader, which counts
    // characters and says exactly what is wrong.
    nodes.truncate(first);
    let mut cursor = Cursor::new(text, ascii, base);
    // Ids are two digits: one bit each.
    let mut seen = 0u128;
    let mut flagged = false;
    while !cursor.at_end() {
        let mut tlv = cursor.next_object()?;
        tlv.parent = parent;
        let bit = 1u128 << (tlv.id & 127);
        flagged |= (seen & bit != 0) | tlv.value.is_empty();
        seen |= bit;
        nodes.push(tlv);
    }
    *repeats_or_empties |= flagged;
    Ok(())
}

/// One level of an all-ASCII payload, where characters are bytes: the
/// loop nearly every decode runs, kept to the few steps each object needs.
/// `false` at the first thing that is not a whole well-formed object (the
/// caller then rereads the level with the general reader).
#[inline]
fn parse_ascii_level<'a>(
    text: &'a str,
    base: usize,
    parent: u8,
    nodes: &mut Vec<Tlv<'a>>,
    repeats_or_empties: &mut bool,
) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    // Ids are two digits: one flag each (cheaper to test and set than a
    // bit of a 128-bit word).
    let mut seen = [false; 100];
    let mut flagged = false;
    while let Some(&[i0, i1, l0, l1]) = bytes.get(at..at + 4) {
        let (Some(id), Some(len)) = (digits2(i0, i1), digits2(l0, l1)) else {
            return false;
        };
        let end = at + 4 + usize::from(len);
        let Some(value) = text.get(at + 4..end) else {
            return false;
        };
        if let Some(s) = seen.get_mut(usize::from(id)) {
            flagged |= std::mem::replace(s, true) | (len == 0);
        }
        nodes.push(Tlv {
            id,
            value,
            position: base + at,
            span: None,
            parent,
        });
        at = end;
    }
    if at != bytes.len() {
        return false;
    }
    *repeats_or_empties |= flagged;
    true
}

/// `"62"` + 5 → `"62.05"`; `""` + 26 → `"26"`.
pub fn join_path(parent: &str, id: u8) -> String {
    if parent.is_empty() {
        format!("{id:02}")
    } else {
        format!("{parent}.{id:02}")
    }
}

struct Cursor<'a> {
    text: &'a str,
    /// Byte offset into `text`.
    byte: usize,
    /// Character offset in the whole payload.
    char_pos: usize,
    ascii: bool,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str, ascii: bool, base: usize) -> Self {
        Cursor {
            text,
            byte: 0,
            char_pos: base,
            ascii,
        }
    }

    fn at_end(&self) -> bool {
        self.byte >= self.text.len()
    }

    #[inline]
    fn rest(&self) -> &'a str {
        self.text.get(self.byte..).unwrap_or("")
    }

    /// Take the next `n` characters, or `None` when fewer remain.
    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a str> {
        let rest = self.rest();
        let len = if self.ascii {
            if rest.len() < n {
                return None;
            }
            n
        } else {
            let mut len = 0;
            let mut chars = rest.chars();
            for _ in 0..n {
                len += chars.next()?.len_utf8();
            }
            len
        };
        let taken = rest.get(..len)?;
        self.byte += len;
        self.char_pos += n;
        Some(taken)
    }

    // Errors are boxed so the happy path moves small values.
    #[inline]
    fn next_object(&mut self) -> Result<Tlv<'a>, Box<DecodeError>> {
        // Fast path: a well-formed header and the whole value present, in
        // ASCII (nearly every object of nearly every payload; in a payload
        // with an accented name, every object but that one), where
        // characters are bytes.
        {
            let start = self.byte;
            if let Some(&[i0, i1, l0, l1]) = self.text.as_bytes().get(start..start + 4)
                && let (Some(id), Some(len)) = (digits2(i0, i1), digits2(l0, l1))
                && let Some(value) = self.text.get(start + 4..start + 4 + usize::from(len))
                && (self.ascii || value.is_ascii())
            {
                let position = self.char_pos;
                self.byte = start + 4 + usize::from(len);
                self.char_pos += 4 + usize::from(len);
                return Ok(Tlv {
                    id,
                    value,
                    position,
                    span: None,
                    parent: NO_PARENT,
                });
            }
        }
        let position = self.char_pos;
        let err = |code: ErrorCode, message: String, tag: Option<u8>| {
            let e = DecodeError::new(code, message).at(position);
            Box::new(match tag {
                Some(id) => e.tag(format!("{id:02}")),
                None => e,
            })
        };
        let Some(id_text) = self.take(2) else {
            return Err(err(
                ErrorCode::Truncated,
                format!("payload ends inside a tag id at character {position}"),
                None,
            ));
        };
        let Some(id) = two_digits(id_text) else {
            return Err(err(
                ErrorCode::BadValue,
                format!("tag id {id_text:?} at character {position} is not two digits"),
                None,
            ));
        };
        let Some(len_text) = self.take(2) else {
            return Err(err(
                ErrorCode::Truncated,
                format!("payload ends inside the length of tag {id:02}"),
                Some(id),
            ));
        };
        // Length 00 is outside EMVCo (01-99) but occurs in issued codes (an
        // empty `6200`); it parses unambiguously, so the validator decides.
        let Some(len) = two_digits(len_text) else {
            return Err(err(
                ErrorCode::BadLength,
                format!(
                    "length {len_text:?} of tag {id:02} at character {position} is not two digits"
                ),
                Some(id),
            ));
        };
        let Some(value) = self.take(usize::from(len)) else {
            let left = self.rest().chars().count();
            return Err(err(
                ErrorCode::Truncated,
                format!(
                    "tag {id:02} at character {position} declares {len} characters but only {left} remain"
                ),
                Some(id),
            ));
        };
        Ok(Tlv {
            id,
            value,
            position,
            span: None,
            parent: NO_PARENT,
        })
    }
}

#[inline]
fn digits2(a: u8, b: u8) -> Option<u8> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Some((a - b'0') * 10 + (b - b'0'))
    } else {
        None
    }
}

fn two_digits(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Some((a - b'0') * 10 + (b - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let tree = parse("64120002ZH0102北京").unwrap();
        let t64 = &tree.objects()[0];
        assert_eq!(t64.value.chars().count(), 12);
        assert_eq!(tree.child_value(t64, 1), Some("北京"));
    }

    #[test]
    fn utf8_value_of_two_characters() {
        let tree = parse("0102北京0302ab").unwrap();
        assert_eq!(tree.objects()[0].value, "北京");
        assert_eq!(tree.objects()[1].value, "ab");
        assert_eq!(tree.objects()[1].position, 6);
    }

    #[test]
    fn template_fault_is_kept_as_primitive() {
        let tree = parse("2603123").unwrap();
        assert!(!tree.objects()[0].is_template());
        assert_eq!(tree.faults.len(), 1);
        assert_eq!(tree.faults[0].path, "26");
        assert_eq!(tree.faults[0].error.code, ErrorCode::Truncated);
    }

    #[test]
    fn more_objects_than_a_span_counts_are_refused() {
        // 70,000 objects of one character: a count a caller raising
        // `payload_bytes_max` could reach.
        let big = "01011".repeat(70_000);
        assert_eq!(parse(&big).unwrap_err().code, ErrorCode::PayloadTooLarge);
        assert!(parse(&big[..5 * 65_535]).is_ok());
    }

    proptest::proptest! {
        /// The ASCII fast path reads a level exactly as the general reader
        /// does, and gives up exactly where the general reader fails.
        #[test]
        fn ascii_fast_path_agrees_with_the_general_reader(
            objects in proptest::collection::vec((0u8..100, "[0-9A-Za-z ]{0,12}"), 0..6),
            tail in "|[0-9a]{1,5}",
        ) {
            // Well-formed objects (repeats and empty values included), then
            // maybe a broken or truncated one.
            let mut text: String = objects
                .iter()
                .map(|(id, v)| format!("{id:02}{:02}{v}", v.len()))
                .collect();
            text.push_str(&tail);
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            let (mut fast_flag, mut slow_flag) = (false, false);
            let ok = parse_ascii_level(&text, 7, 62, &mut fast, &mut fast_flag);
            let general = parse_level(&text, false, 7, 62, &mut slow, &mut slow_flag);
            proptest::prop_assert_eq!(ok, general.is_ok(), "{}", text);
            if ok {
                proptest::prop_assert_eq!(&fast, &slow);
                proptest::prop_assert_eq!(fast_flag, slow_flag);
            } else {
                proptest::prop_assert!(!fast_flag);
            }
        }
    }

    #[test]
    fn nested_62_template() {
        let tree = parse("62105006000201").unwrap();
        let t62 = &tree.objects()[0];
        let t50 = tree.child(t62, 50).unwrap();
        assert_eq!(tree.child_value(t50, 0), Some("01"));
        assert_eq!(tree.children(t50).unwrap()[0].position, 8);
    }
}
