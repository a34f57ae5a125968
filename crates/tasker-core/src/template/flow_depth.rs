//! A linear pre-scan bounding the flow-collection depth (`[`, `{`) the YAML parser would reach,
//! run before parsing because the parser's time grows with the square of that depth (80 KB of
//! `{a: ` takes seconds).
//!
//! The bound is conservative: it is never below the parser's depth. Inside a flow collection
//! YAML's tokens do not depend on indentation, so the scan follows the parser's own rules there
//! (token starts, plain scalars that run across lines, quoted scalars, comments, anchors and
//! tags, and Unicode line breaks). Block context does depend on indentation, so instead of
//! guessing where its tokens start the scan assumes any `[` or `{` outside a flow collection may
//! open one: every reading is followed at once, and for each lexical state only the deepest
//! reading is kept. A bracket inside a block-context string may therefore count, which can
//! only make the bound larger.
//!
//! What is bounded is the parser's flow level. A `key: value` entry of a flow sequence
//! (`[a: b]`) is a one-pair mapping without a bracket of its own; it costs the parser nothing
//! extra and the exact depth is checked once the document is parsed.

/// Lexical states inside a flow collection.
#[derive(Clone, Copy)]
enum State {
    /// Between tokens (blanks, line breaks).
    TokenStart,
    /// Inside a word of a plain scalar.
    Plain,
    /// After blanks or line breaks inside a plain scalar: the scalar may go on.
    PlainGap,
    /// Inside `'…'`.
    Single,
    /// Just after a `'` inside `'…'`: either `''` (an escaped quote) or the end.
    SingleEnd,
    /// Inside `"…"`.
    Double,
    /// Just after a backslash inside `"…"`.
    DoubleEscape,
    /// Inside `# …` up to the line break.
    Comment,
    /// Inside an anchor or alias name (`&a`, `*a`).
    Anchor,
    /// Inside a shorthand tag (`!t`, `!!str`).
    Tag,
    /// Inside a verbatim tag (`!<…>`).
    VerbatimTag,
}

const STATES: usize = 11;

impl State {
    fn index(self) -> usize {
        self as usize
    }
}

/// The deepest flow nesting any reading of `text` reaches, stopping early once it exceeds
/// `stop_above`.
pub(crate) fn flow_depth_bound(text: &str, stop_above: usize) -> usize {
    let chars: Vec<char> = text
        .chars()
        .map(|c| if is_break(c) { '\n' } else { c })
        .collect();
    let mut depth: [Option<usize>; STATES] = [None; STATES];
    let mut max = 0;
    for i in 0..chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let column_zero = i == 0 || chars[i - 1] == '\n';
        let mut after: [Option<usize>; STATES] = [None; STATES];

        // States that end without consuming `c` hand it to the state that takes it over.
        for state in [
            State::Anchor,
            State::Tag,
            State::VerbatimTag,
            State::SingleEnd,
            State::PlainGap,
            State::Plain,
        ] {
            let Some(d) = depth[state.index()].take() else {
                continue;
            };
            match state {
                State::Anchor if is_anchor_char(c) => put(State::Anchor, d, &mut after),
                State::Anchor if ends_anchor(c) => put(State::TokenStart, d, &mut depth),
                State::Tag if is_uri_char(c) => put(State::Tag, d, &mut after),
                State::Tag if is_blank_or_break(c) || c == ',' => {
                    put(State::TokenStart, d, &mut depth);
                }
                State::VerbatimTag if c == '>' => put(State::TokenStart, d, &mut after),
                State::VerbatimTag if is_uri_char(c) || matches!(c, '<' | ',' | '[' | ']') => {
                    put(State::VerbatimTag, d, &mut after);
                }
                State::SingleEnd if c == '\'' => put(State::Single, d, &mut after),
                State::SingleEnd => put(State::TokenStart, d, &mut depth),
                State::PlainGap if is_blank_or_break(c) => put(State::PlainGap, d, &mut after),
                State::PlainGap if c == '#' || (column_zero && document_marker(&chars, i)) => {
                    put(State::TokenStart, d, &mut depth);
                }
                State::PlainGap => put(State::Plain, d, &mut depth),
                State::Plain => {
                    if c == ':' && next.is_some_and(|n| ",?[]{}".contains(n)) {
                        // The parser stops with an error here.
                    } else if (c == ':' && next.is_none_or(is_blank_or_break))
                        || matches!(c, ',' | '[' | ']' | '{' | '}')
                    {
                        put(State::TokenStart, d, &mut depth);
                    } else if is_blank_or_break(c) {
                        put(State::PlainGap, d, &mut after);
                    } else {
                        put(State::Plain, d, &mut after);
                    }
                }
                // Anything else is an error that stops the parser.
                _ => {}
            }
        }

        for state in [
            State::TokenStart,
            State::Single,
            State::Double,
            State::DoubleEscape,
            State::Comment,
        ] {
            let Some(d) = depth[state.index()] else {
                continue;
            };
            match state {
                State::TokenStart => match c {
                    ' ' | '\t' | '\n' | ',' | '?' | ':' => put(State::TokenStart, d, &mut after),
                    '-' if next.is_none_or(is_blank_or_break) => {
                        put(State::TokenStart, d, &mut after);
                    }
                    '#' => put(State::Comment, d, &mut after),
                    '[' | '{' => {
                        max = max.max(d + 1);
                        put(State::TokenStart, d + 1, &mut after);
                    }
                    ']' | '}' if d > 1 => put(State::TokenStart, d - 1, &mut after),
                    // Back in block context, which is always followed below.
                    ']' | '}' => {}
                    '\'' => put(State::Single, d, &mut after),
                    '"' => put(State::Double, d, &mut after),
                    '&' | '*' => put(State::Anchor, d, &mut after),
                    '!' if next == Some('<') => put(State::VerbatimTag, d, &mut after),
                    '!' => put(State::Tag, d, &mut after),
                    '%' | '@' | '`' | '|' | '>' => {}
                    _ if column_zero && document_marker(&chars, i) => {}
                    _ => put(State::Plain, d, &mut after),
                },
                State::Single if c == '\'' => put(State::SingleEnd, d, &mut after),
                State::Single => put(State::Single, d, &mut after),
                State::Double if c == '\\' => put(State::DoubleEscape, d, &mut after),
                State::Double if c == '"' => put(State::TokenStart, d, &mut after),
                State::Double | State::DoubleEscape => put(State::Double, d, &mut after),
                State::Comment if c == '\n' => put(State::TokenStart, d, &mut after),
                State::Comment => put(State::Comment, d, &mut after),
                _ => {}
            }
        }

        // Block context: any bracket may open a flow collection.
        if matches!(c, '[' | '{') {
            max = max.max(1);
            put(State::TokenStart, 1, &mut after);
        }
        if max > stop_above {
            return max;
        }
        depth = after;
    }
    max
}

/// Records that `state` is reachable at depth `d`, keeping the deepest reading.
fn put(state: State, d: usize, table: &mut [Option<usize>; STATES]) {
    let slot = &mut table[state.index()];
    *slot = Some(slot.map_or(d, |old| old.max(d)));
}

/// YAML line breaks, Unicode ones included.
fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank_or_break(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

fn is_anchor_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

fn ends_anchor(c: char) -> bool {
    is_blank_or_break(c) || matches!(c, '?' | ':' | ',' | ']' | '}' | '%' | '@' | '`')
}

fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-;/?:@&=+$.%!~*'()".contains(c)
}

/// `---` or `...` followed by a blank, a line break or the end.
fn document_marker(chars: &[char], i: usize) -> bool {
    let marker = |m: char| {
        chars
            .get(i..i + 3)
            .is_some_and(|s| s.iter().all(|&c| c == m))
    };
    (marker('-') || marker('.')) && chars.get(i + 3).is_none_or(|&c| is_blank_or_break(c))
}

#[cfg(test)]
mod tests {
    use super::flow_depth_bound;

    fn depth(text: &str) -> usize {
        flow_depth_bound(text, usize::MAX)
    }

    #[test]
    fn counts_flow_nesting() {
        assert_eq!(depth("a: 1\nb: [1, 2]\n"), 1);
        assert_eq!(depth("a: {b: [c, {d: e}]}\n"), 3);
        assert_eq!(depth("[[[]]] [[]]"), 3);
        assert_eq!(depth(&"[".repeat(100)), 100);
        assert_eq!(depth(&"{a: ".repeat(50)), 50);
    }

    #[test]
    fn quoted_scalars_and_comments_inside_flow_do_not_count() {
        assert_eq!(depth("x: [\"]]]]\", ']]'']]', a]\n"), 1);
        assert_eq!(depth("x: [a, # ]]]]\n  [b]]\n"), 2);
        assert_eq!(depth("x: [\"\\\"]]\"]"), 1);
    }

    #[test]
    fn closers_hidden_in_strings_cannot_lower_the_bound() {
        // Each group opens three levels and closes none: the parser reaches 3 × 20.
        let text = format!("x: {}", "[[[\"]]]\", ".repeat(20));
        assert_eq!(depth(&text), 60);
        let text = format!("x: {}", "[[[']]]', ".repeat(20));
        assert_eq!(depth(&text), 60);
        let text = format!("x: {}", "[[[ # ]]]\n".repeat(20));
        assert_eq!(depth(&text), 60);
    }

    #[test]
    fn plain_scalars_in_flow_run_across_lines_and_keep_quotes() {
        // `a 'b` is one plain scalar: the quote opens nothing, so the brackets after it count.
        assert_eq!(depth("[a\n'b, [[[c]]]]"), 4);
        assert_eq!(depth("[a 'b, [[[c]]]]"), 4);
        // A comment after a Unicode line break ends the scalar; its brackets do not close.
        let text = format!("x: {}", "[[[a\u{2028}# ]]]\n".repeat(10));
        assert_eq!(depth(&text), 30);
    }

    #[test]
    fn tags_and_anchors_are_skipped_like_the_parser_does() {
        assert_eq!(depth("[!t'x [[a]]]"), 3);
        assert_eq!(depth("[&a [b], *a]"), 2);
        assert_eq!(depth("[!<x[]]> [a]]"), 2);
    }

    #[test]
    fn block_context_brackets_count_even_inside_strings() {
        assert_eq!(depth("a: 'x [[[['\n"), 4);
        // A reading that took `[[[` for flow stays three deeper for the rest of the text.
        assert_eq!(depth("a: |\n  [[[\nb: [c]\n"), 4);
    }

    /// Levels of nested collections in a parsed document.
    fn parsed_depth(value: &serde_yaml::Value) -> usize {
        match value {
            serde_yaml::Value::Sequence(items) => {
                1 + items.iter().map(parsed_depth).max().unwrap_or(0)
            }
            serde_yaml::Value::Mapping(map) => {
                1 + map
                    .iter()
                    .map(|(k, v)| parsed_depth(k).max(parsed_depth(v)))
                    .max()
                    .unwrap_or(0)
            }
            serde_yaml::Value::Tagged(tagged) => parsed_depth(&tagged.value),
            _ => 0,
        }
    }

    fn tokens(with_pairs: bool) -> impl proptest::strategy::Strategy<Value = String> {
        let mut tokens = vec![
            "[", "]", "{", "}", ", ", ",", "a", "b c", "'", "''", "\"", "\\", " # ", "#", "\n",
            "\u{2028}", " ", "&x ", "*x", "!t ", "- ",
        ];
        if with_pairs {
            tokens.extend([": ", ":", "? "]);
        }
        proptest::collection::vec(proptest::sample::select(tokens), 0..40)
            .prop_map(|body| format!("[{}]", body.concat()))
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// For flow documents the parser accepts, the bound is at least the depth it built.
        #[test]
        fn the_bound_is_never_below_the_parsed_depth(text in tokens(false)) {
            if let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                let bound = flow_depth_bound(&text, usize::MAX);
                proptest::prop_assert!(bound >= parsed_depth(&value), "{text:?}: bound {bound}");
            }
        }

        /// A `key: value` entry of a flow sequence (`[a: b]`) is a one-pair mapping one level
        /// down without a bracket: at most one such level per bracketed one. The document
        /// itself may also be a block mapping whose key is the flow collection (`[…]: a`), a
        /// level that is not a flow level.
        #[test]
        fn single_pair_mappings_at_most_double_the_depth(text in tokens(true)) {
            if let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                let bound = flow_depth_bound(&text, usize::MAX);
                proptest::prop_assert!(2 * bound + 1 >= parsed_depth(&value), "{text:?}: bound {bound}");
            }
        }
    }

    #[test]
    fn stops_early() {
        assert_eq!(flow_depth_bound(&"[".repeat(100_000), 32), 33);
    }
}
