//! Keeps host paths out of error messages that reach API callers (a step's `last_error`, DLQ
//! snapshots): every absolute path (an interpreter, a script under the working directory, a
//! traceback's library file) is shortened to `.../` and its last component. The full message
//! stays in the worker's log.

/// Characters that end a path inside a message (quotes, brackets, separators, whitespace).
fn ends_path(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | ')' | ']' | '>' | ',' | ';' | ':')
}

/// Characters after which a `/` starts an absolute path (rather than being inside a word, a
/// relative path or a URL).
fn starts_path(previous: Option<char>) -> bool {
    previous.is_none_or(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '\'' | '"' | '`' | '(' | '[' | '<' | '=' | ',' | ';' | ':'
            )
    })
}

/// `text` with each absolute path replaced by `.../` and its last component.
pub(crate) fn without_host_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let next = rest[c.len_utf8()..].chars().next();
        if c == '/' && starts_path(previous) && next.is_some_and(|n| n != '/' && !ends_path(n)) {
            let end = rest.find(ends_path).unwrap_or(rest.len());
            let path = &rest[..end];
            let last = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            out.push_str(".../");
            out.push_str(last);
            previous = path.chars().last();
            rest = &rest[end..];
            continue;
        }
        out.push(c);
        previous = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_host_paths as hide;

    #[test]
    fn absolute_paths_keep_only_their_last_component() {
        assert_eq!(
            hide(
                "/usr/bin/python3: can't open file '/srv/app/steps/run.py': [Errno 2] No such file or directory"
            ),
            ".../python3: can't open file '.../run.py': [Errno 2] No such file or directory"
        );
        assert_eq!(
            hide("File \"/usr/lib/python3.11/json/decoder.py\", line 355, in raw_decode"),
            "File \".../decoder.py\", line 355, in raw_decode"
        );
        assert_eq!(
            hide("builtin.command: `/opt/tools/bin/convert` exited with status 1"),
            "builtin.command: `.../convert` exited with status 1"
        );
        assert_eq!(hide("cwd=/home/tasker/work/"), "cwd=.../work");
        assert_eq!(
            hide("(/etc/x.conf) [/tmp] </a/b>"),
            "(.../x.conf) [.../tmp] <.../b>"
        );
        assert_eq!(hide("/x/y.c:3:1: error"), ".../y.c:3:1: error");
    }

    #[test]
    fn everything_else_is_kept() {
        for text in [
            "see https://example.com/a/b for help",
            "relative/path/file.py failed",
            "3/4 done, and/or maybe",
            "a / b",
            "//comment",
            "",
            "ünïcode / ok",
        ] {
            assert_eq!(hide(text), text);
        }
    }
}
