//! `{posargs}` in a shell command string: where each placeholder sits in `sh`'s grammar, and
//! the text that makes the posargs reach the command literally from there.
//!
//! A posarg must arrive as exactly one literal word (outside quotes) or as literal text inside
//! the quotes the placeholder is written in, whatever it holds. So the command string is lexed
//! the way `sh` reads it, far enough to know each placeholder's context: outside quotes,
//! inside `'…'`, `"…"` or `$'…'`, in a comment, in a here-document body (with a quoted or an
//! unquoted delimiter), and how many backquotes `` `…` `` enclose it (each level removes one
//! level of backslashes before the inner text is parsed). `$( … )` starts a fresh command level.
//! Contexts where no quoting is safe (`${…}`, `$((…))`, right after a backslash, a
//! here-document delimiter, what may be the body of a `<<` after `((`) are refused with a
//! message, as is a posarg a here-document cannot hold literally (a line equal to its
//! delimiter, a line ending in a backslash, leading tabs under `<<-`, a byte sequence dash
//! corrupts). Pure string work, unit-tested by running `/bin/sh` (and bash) on the results,
//! over a table of hostile strings and with random ones.

use super::{Kind, Placeholder, find_placeholder};

/// What ends a stretch of shell code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The end of the string: the top level.
    Eof,
    /// `)` closing a `$(`, with the count of `(` still open inside it and of the `case`
    /// commands not yet closed by `esac` (whose patterns end in an unmatched `)`).
    Paren {
        /// `(` still open.
        open: usize,
        /// `case` without its `esac` yet.
        cases: usize,
    },
    /// The closing backquote.
    Backquote,
    /// `}` closing a `${`, with the count of `{` still open inside it.
    Brace(usize),
    /// `))` closing a `$((`, with the count of `(` still open (2 at the start).
    Arith(usize),
}

/// One level of the lexer's stack.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Frame {
    /// Shell code (words, operators).
    Code(End),
    /// `'…'`: nothing is special but the closing quote.
    Single,
    /// `$'…'` (bash): backslash escapes are decoded.
    DollarSingle,
    /// `"…"`: `$`, backquote and `\` are special.
    Double,
    /// `# …` up to the end of the line.
    Comment,
    /// A here-document body, up to a line that is exactly `delimiter`.
    HereDoc(HereDoc),
}

/// A here-document announced by `<<WORD` or `<<-WORD`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HereDoc {
    /// The word that ends it, quotes removed.
    delimiter: String,
    /// The word was quoted (`<<'EOF'`): the body is literal.
    quoted: bool,
    /// `<<-`: leading tabs are stripped from each line (and from the delimiter line).
    strip_tabs: bool,
    /// The `<<` follows a `((` on its line: bash may read it as an arithmetic shift where
    /// dash reads a here-document, so no placeholder after it can be placed for sure.
    ambiguous: bool,
}

/// Where one placeholder sits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    /// The frames enclosing it, outermost first.
    stack: Vec<Frame>,
    /// It follows a backslash that escapes its first character.
    after_backslash: bool,
}

/// `text` with every `{posargs}` / `{posargs:default}` replaced: by the posargs quoted for
/// where the placeholder sits, or by the default verbatim when there are no posargs (the
/// default is part of the config, written as shell code). With `report_dir`, every
/// `{report_dir}` is replaced by that folder, quoted for its place as one posarg would be.
/// `Err` says why a placeholder's place is unsafe for any quoting.
pub(super) fn substitute(
    text: &str,
    posargs: &[String],
    report_dir: Option<&str>,
) -> Result<String, String> {
    let with_dir = report_dir.is_some();
    let sites = lex(text, with_dir)?;
    let dir: Vec<String> = report_dir.map(str::to_owned).into_iter().collect();
    let mut out = String::with_capacity(text.len());
    let mut heredoc_inserts = Vec::new();
    let mut at = 0;
    let mut sites = sites.into_iter();
    while let Some(found) = find_placeholder(text, at, with_dir) {
        let site = sites
            .next()
            .ok_or_else(|| "internal error: a placeholder the lexer did not see".to_owned())?;
        out.push_str(&text[at..found.start]);
        let values = match found.kind {
            Kind::Posargs => posargs,
            Kind::ReportDir => dir.as_slice(),
        };
        check_site(&site).map_err(|message| named(&message, found.kind))?;
        let start = out.len();
        if values.is_empty() {
            out.push_str(found.default.unwrap_or(""));
        } else {
            out.push_str(&quote_for(&site, values));
            // bash ends a here-document at its delimiter line even inside a `$(…)` or quotes
            // in its body, so every enclosing one counts.
            for frame in &site.stack {
                if let Frame::HereDoc(doc) = frame {
                    heredoc_inserts.push((start..out.len(), doc.clone(), found.kind));
                }
            }
        }
        at = found.end;
    }
    out.push_str(&text[at..]);
    for (range, doc, kind) in heredoc_inserts {
        check_heredoc_lines(&out, range, &doc).map_err(|message| named(&message, kind))?;
    }
    Ok(out)
}

/// A message written for `{posargs}`, for the placeholder it is about.
fn named(message: &str, kind: Kind) -> String {
    match kind {
        Kind::Posargs => message.to_owned(),
        Kind::ReportDir => message
            .replace("{posargs}", "{report_dir}")
            .replace("the posargs", "the report folder"),
    }
}

/// Refuses a place where no quoting keeps a posarg literal.
fn check_site(site: &Site) -> Result<(), String> {
    for frame in &site.stack {
        match frame {
            Frame::Code(End::Brace(_)) => {
                return Err(
                    "{posargs} inside ${…} cannot be quoted safely; assign it to a variable \
                     first (`args={posargs}; echo \"${args:-x}\"`)"
                        .to_owned(),
                );
            }
            Frame::Code(End::Arith(_)) => {
                return Err(
                    "{posargs} inside $((…)) would be evaluated as arithmetic code".to_owned(),
                );
            }
            _ => {}
        }
    }
    if site
        .stack
        .iter()
        .any(|frame| matches!(frame, Frame::HereDoc(doc) if doc.ambiguous))
    {
        return Err(
            "{posargs} after a `<<` that shells read either as a here-document or as an \
             arithmetic shift (after `((`)"
                .to_owned(),
        );
    }
    if site.after_backslash {
        return Err("{posargs} right after a backslash cannot be quoted safely".to_owned());
    }
    Ok(())
}

/// The text for `posargs` at `site`.
fn quote_for(site: &Site, posargs: &[String]) -> String {
    let joined = || posargs.join(" ");
    let inner = match site.stack.last() {
        Some(Frame::Code(_)) | None => posargs
            .iter()
            .map(|arg| word_quoted(arg))
            .collect::<Vec<_>>()
            .join(" "),
        Some(Frame::Single) => joined().replace('\'', r"'\''"),
        // Close the `$'`, add a plain single-quoted part, open a new `$'`.
        Some(Frame::DollarSingle) => format!("'{}$'", single_quoted(&joined())),
        Some(Frame::Double) => backslash_escape(&joined(), &['\\', '$', '`', '"']),
        // A newline would end the comment and run the rest.
        Some(Frame::Comment) => joined().replace('\n', " "),
        Some(Frame::HereDoc(doc)) if doc.quoted => joined(),
        Some(Frame::HereDoc(_)) => backslash_escape(&joined(), &['\\', '$', '`']),
    };
    // Each enclosing backquote level strips one level of `\` before the inner text is parsed
    // (innermost first); inside double quotes it also turns `\"` into `"`.
    let mut text = inner;
    for at in (0..site.stack.len()).rev() {
        if site.stack[at] == Frame::Code(End::Backquote) {
            let in_double = at > 0 && site.stack[at - 1] == Frame::Double;
            let special: &[char] = if in_double {
                &['\\', '$', '`', '"']
            } else {
                &['\\', '$', '`']
            };
            text = backslash_escape(&text, special);
        }
    }
    text
}

/// `word` as one literal `sh` word: bare if made only of `[A-Za-z0-9_./:,+@%-]` (none of them
/// special anywhere in code, and no `=`, which would make a first word an assignment), else in
/// single quotes.
fn word_quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:,+@%-".contains(c));
    if plain {
        word.to_owned()
    } else {
        single_quoted(word)
    }
}

/// `word` in single quotes (`'` written as `'\''`): literal in code.
fn single_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `text` with a backslash before each of `special`.
fn backslash_escape(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Refuses a substitution that made a line of the here-document equal to its delimiter, which
/// would end it early and run the lines after as commands.
fn check_heredoc_lines(
    out: &str,
    range: std::ops::Range<usize>,
    doc: &HereDoc,
) -> Result<(), String> {
    let line_start = out[..range.start].rfind('\n').map_or(0, |at| at + 1);
    // In an unquoted here-document, bash joins a line ending in an unescaped backslash with
    // the next one before it parses the body, even inside quotes in a `$(…)` there.
    if !doc.quoted {
        for (at, _) in out[range.clone()].match_indices('\n') {
            let before = &out[..range.start + at];
            let backslashes = before.len() - before.trim_end_matches('\\').len();
            if backslashes % 2 == 1 {
                return Err(
                    "the posargs would end a line of a here-document with a backslash".to_owned(),
                );
            }
        }
    }
    // `<<-` strips the leading tabs of every line, those of the posargs' lines too.
    let inserted = &out[range.clone()];
    let starts_line = out[line_start..range.start].chars().all(|c| c == '\t');
    if doc.strip_tabs && (inserted.contains("\n\t") || (starts_line && inserted.starts_with('\t')))
    {
        return Err(
            "the posargs would lose the tabs that start their lines in a `<<-` here-document"
                .to_owned(),
        );
    }
    let line_end = out[range.end..]
        .find('\n')
        .map_or(out.len(), |at| range.end + at);
    for line in out[line_start..line_end].split('\n') {
        let line = if doc.strip_tabs {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if line == doc.delimiter {
            return Err(format!(
                "the posargs would end the here-document early (a line `{}`)",
                doc.delimiter
            ));
        }
        // dash (/bin/sh on Debian) drops the first byte of a non-ASCII character that follows
        // the start of the delimiter at the start of a line (`Eé` under `<<EOF`).
        let mangled = (1..=doc.delimiter.len()).any(|k| {
            doc.delimiter.is_char_boundary(k)
                && line.starts_with(&doc.delimiter[..k])
                && line.as_bytes().get(k).is_some_and(|&b| b >= 0x80)
        });
        if mangled {
            return Err(format!(
                "the posargs would start a line of the here-document with `{}` followed by a \
                 non-ASCII character, which dash corrupts",
                &line[..line.len().min(doc.delimiter.len())]
            ));
        }
    }
    Ok(())
}

/// The place of every placeholder in `text`, in order.
fn lex(text: &str, report_dir: bool) -> Result<Vec<Site>, String> {
    Lexer {
        text,
        report_dir,
        at: 0,
        stack: vec![Frame::Code(End::Eof)],
        pending: Vec::new(),
        word_start: true,
        line_start: false,
        sites: Vec::new(),
    }
    .run()
}

/// The lexer's state while it walks the string.
struct Lexer<'a> {
    text: &'a str,
    /// `{report_dir}` is a placeholder too.
    report_dir: bool,
    /// Byte offset of the next character.
    at: usize,
    /// Innermost frame last; never empty.
    stack: Vec<Frame>,
    /// Here-documents announced on the current line, their bodies due after its newline.
    pending: Vec<HereDoc>,
    /// The next character starts a word (so `#` starts a comment).
    word_start: bool,
    /// The next character starts a line of a here-document body.
    line_start: bool,
    sites: Vec<Site>,
}

impl<'a> Lexer<'a> {
    fn run(mut self) -> Result<Vec<Site>, String> {
        let mut next_placeholder = self.find(0);
        while self.at < self.text.len() {
            if let Some(found) = &next_placeholder
                && found.start < self.at
            {
                // A step swallowed it (inside a construct read as a whole): no place known.
                return Err("{posargs} in a place runall cannot quote for".to_owned());
            }
            if let Some(found) = &next_placeholder
                && found.start == self.at
            {
                self.sites.push(Site {
                    stack: self.stack.clone(),
                    after_backslash: false,
                });
                self.at = found.end;
                self.word_start = false;
                self.line_start = false;
                next_placeholder = self.find(self.at);
                continue;
            }
            self.step(&mut next_placeholder)?;
        }
        Ok(self.sites)
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    /// The next placeholder at or after `from`.
    fn find(&self, from: usize) -> Option<Placeholder<'a>> {
        find_placeholder(self.text, from, self.report_dir)
    }

    /// The innermost backquote is itself inside double quotes, where `\"` stands for `"`.
    fn in_double_quoted_backquote(&self) -> bool {
        self.stack
            .iter()
            .rposition(|frame| *frame == Frame::Code(End::Backquote))
            .is_some_and(|at| at > 0 && self.stack[at - 1] == Frame::Double)
    }

    fn top(&self) -> &Frame {
        // The stack starts with the top level and the top level is never popped.
        self.stack.last().unwrap_or(&Frame::Code(End::Eof))
    }

    /// Consumes a backslash and the character it escapes; notes a placeholder it touches.
    fn escape(&mut self, next_placeholder: &mut Option<Placeholder<'a>>) {
        self.at += 1;
        if let Some(found) = next_placeholder.as_ref()
            && found.start == self.at
        {
            self.sites.push(Site {
                stack: self.stack.clone(),
                after_backslash: true,
            });
            self.at = found.end;
            *next_placeholder = self.find(self.at);
        } else if let Some(c) = self.rest().chars().next() {
            self.at += c.len_utf8();
        }
    }

    /// Consumes one character (or operator) in the current frame.
    fn step(&mut self, next_placeholder: &mut Option<Placeholder<'a>>) -> Result<(), String> {
        let Some(c) = self.rest().chars().next() else {
            return Ok(());
        };
        match self.top().clone() {
            Frame::Single => {
                self.at += c.len_utf8();
                if c == '\'' {
                    self.stack.pop();
                }
            }
            Frame::DollarSingle => match c {
                '\\' => self.escape(next_placeholder),
                '\'' => {
                    self.at += 1;
                    self.stack.pop();
                }
                _ => self.at += c.len_utf8(),
            },
            Frame::Comment => {
                if c == '\n' {
                    self.stack.pop();
                    // The newline ends the line in the enclosing code.
                } else {
                    self.at += c.len_utf8();
                }
            }
            Frame::Double => match c {
                '\\' if self.rest().starts_with("\\\"") && self.in_double_quoted_backquote() => {
                    self.at += 2;
                    self.stack.pop();
                }
                '\\' => self.escape(next_placeholder),
                '"' => {
                    self.at += 1;
                    self.stack.pop();
                }
                '$' | '`' => self.expansion_start(),
                _ => self.at += c.len_utf8(),
            },
            Frame::HereDoc(doc) => self.heredoc_step(c, &doc, next_placeholder),
            Frame::Code(end) => self.code_step(c, end, next_placeholder)?,
        }
        Ok(())
    }

    /// `$…` or a backquote, in code, double quotes or a here-document: pushes what it opens.
    fn expansion_start(&mut self) {
        let rest = self.rest();
        if rest.starts_with("$((") {
            self.at += 3;
            self.stack.push(Frame::Code(End::Arith(2)));
            self.word_start = false;
            return;
        } else if rest.starts_with("$(") {
            self.at += 2;
            self.stack
                .push(Frame::Code(End::Paren { open: 0, cases: 0 }));
        } else if rest.starts_with("${") {
            self.at += 2;
            self.stack.push(Frame::Code(End::Brace(0)));
            // `${#x}` is a length, not a comment.
            self.word_start = false;
            return;
        } else if rest.starts_with('`') {
            self.at += 1;
            self.stack.push(Frame::Code(End::Backquote));
        } else {
            self.at += 1;
            return;
        }
        self.word_start = true;
    }

    fn code_step(
        &mut self,
        c: char,
        end: End,
        next_placeholder: &mut Option<Placeholder<'a>>,
    ) -> Result<(), String> {
        let word_start = self.word_start;
        self.word_start = false;
        match c {
            '\\' if end == End::Backquote
                && self.rest().starts_with("\\\"")
                && self.in_double_quoted_backquote() =>
            {
                self.at += 2;
                self.stack.push(Frame::Double);
            }
            '\\' => self.escape(next_placeholder),
            '\'' => {
                self.at += 1;
                self.stack.push(Frame::Single);
            }
            '"' => {
                self.at += 1;
                self.stack.push(Frame::Double);
            }
            '$' if self.rest().starts_with("$'") => {
                self.at += 2;
                self.stack.push(Frame::DollarSingle);
            }
            '`' if end == End::Backquote => {
                self.at += 1;
                self.stack.pop();
            }
            '$' | '`' => self.expansion_start(),
            '#' if word_start => {
                self.at += 1;
                self.stack.push(Frame::Comment);
            }
            // In `$((…))` it is a shift.
            '<' if self.rest().starts_with("<<")
                && !self.rest().starts_with("<<<")
                && !matches!(end, End::Arith(_)) =>
            {
                self.heredoc_operator(next_placeholder.as_ref().map(|found| found.start))?;
            }
            '\n' => {
                self.at += 1;
                self.word_start = true;
                if !self.pending.is_empty() {
                    let doc = self.pending.remove(0);
                    self.stack.push(Frame::HereDoc(doc));
                    self.line_start = true;
                }
            }
            _ => {
                if word_start && let End::Paren { open, cases } = end {
                    let keyword = |word: &str| {
                        self.rest().strip_prefix(word).is_some_and(|after| {
                            after
                                .chars()
                                .next()
                                .is_none_or(|next| next.is_whitespace() || ";&|()<>".contains(next))
                        })
                    };
                    let cases = if keyword("case") {
                        cases + 1
                    } else if keyword("esac") {
                        cases.saturating_sub(1)
                    } else {
                        cases
                    };
                    if let Some(top) = self.stack.last_mut() {
                        *top = Frame::Code(End::Paren { open, cases });
                    }
                }
                self.at += c.len_utf8();
                self.word_start = c.is_whitespace() || ";&|()<>".contains(c);
                if let Some(Frame::Code(end)) = self.stack.last() {
                    let end = *end;
                    self.close_brackets(c, end);
                }
            }
        }
        Ok(())
    }

    /// Counts `(`/`{` and pops the frame at its closing `)`, `}` or `))`.
    fn close_brackets(&mut self, c: char, end: End) {
        let updated = match (end, c) {
            (End::Paren { open, cases }, '(') => End::Paren {
                open: open + 1,
                cases,
            },
            (End::Paren { open: 0, cases: 0 } | End::Arith(1), ')') | (End::Brace(0), '}') => {
                self.stack.pop();
                return;
            }
            // A `case` pattern's `)`.
            (End::Paren { open: 0, .. }, ')') => return,
            (End::Paren { open, cases }, ')') => End::Paren {
                open: open - 1,
                cases,
            },
            (End::Brace(open), '{') => End::Brace(open + 1),
            (End::Brace(open), '}') => End::Brace(open - 1),
            (End::Arith(open), '(') => End::Arith(open + 1),
            (End::Arith(open), ')') => End::Arith(open - 1),
            _ => return,
        };
        if let Some(top) = self.stack.last_mut() {
            *top = Frame::Code(updated);
        }
    }

    /// `<<WORD` or `<<-WORD`: reads the delimiter; the body starts after the next newline.
    fn heredoc_operator(&mut self, next_start: Option<usize>) -> Result<(), String> {
        let operator = self.at;
        self.at += 2;
        let strip_tabs = self.rest().starts_with('-');
        if strip_tabs {
            self.at += 1;
        }
        while self.rest().starts_with([' ', '\t']) {
            self.at += 1;
        }
        let mut delimiter = String::new();
        let mut quoted = false;
        let mut quote: Option<char> = None;
        while let Some(c) = self.rest().chars().next() {
            if next_start == Some(self.at) {
                return Err("{posargs} in a here-document's delimiter".to_owned());
            }
            match (quote, c) {
                (None, '\'' | '"') => {
                    quoted = true;
                    quote = Some(c);
                }
                (Some(q), c) if c == q => quote = None,
                (None, '\\') => {
                    quoted = true;
                    self.at += 1;
                    if let Some(escaped) = self.rest().chars().next() {
                        delimiter.push(escaped);
                        self.at += escaped.len_utf8();
                    }
                    continue;
                }
                (None, c) if c.is_whitespace() || ";&|()<>".contains(c) => break,
                (_, c) => delimiter.push(c),
            }
            self.at += c.len_utf8();
        }
        let line_start = self.text[..operator].rfind('\n').map_or(0, |at| at + 1);
        self.pending.push(HereDoc {
            delimiter,
            quoted,
            strip_tabs,
            ambiguous: self.text[line_start..operator].contains("(("),
        });
        Ok(())
    }

    fn heredoc_step(
        &mut self,
        c: char,
        doc: &HereDoc,
        next_placeholder: &mut Option<Placeholder<'a>>,
    ) {
        if self.line_start {
            self.line_start = false;
            let line = self.rest().split('\n').next().unwrap_or("");
            let stripped = if doc.strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            let has_placeholder = next_placeholder
                .as_ref()
                .is_some_and(|found| found.start < self.at + line.len());
            if stripped == doc.delimiter && !has_placeholder {
                self.at += line.len();
                if self.rest().starts_with('\n') {
                    self.at += 1;
                }
                self.stack.pop();
                self.word_start = true;
                if !self.pending.is_empty() {
                    let next = self.pending.remove(0);
                    self.stack.push(Frame::HereDoc(next));
                    self.line_start = true;
                }
                return;
            }
        }
        if c == '\n' {
            self.at += 1;
            self.line_start = true;
            return;
        }
        if doc.quoted {
            self.at += c.len_utf8();
            return;
        }
        match c {
            '\\' => self.escape(next_placeholder),
            '$' | '`' => self.expansion_start(),
            _ => self.at += c.len_utf8(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Posargs only, as `plan::substitute` calls it.
    fn substitute(text: &str, posargs: &[String]) -> Result<String, String> {
        super::substitute(text, posargs, None)
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    /// The shells the substitutions are checked with: `/bin/sh` (what runall runs), and bash
    /// where it is installed (what `/bin/sh` is on other systems).
    fn shells() -> Vec<&'static str> {
        ["/bin/sh", "/bin/bash"]
            .into_iter()
            .filter(|shell| Path::new(shell).exists())
            .collect()
    }

    /// Runs `script` with `/bin/sh -c` in a fresh folder; returns its stdout and whether
    /// anything appeared in the folder (a hostile posarg creating a file).
    fn run_sh(script: &str) -> (String, bool) {
        run_in("/bin/sh", script)
    }

    /// Runs `script` with `shell -c` in a fresh folder, as [`run_sh`].
    fn run_in(shell: &str, script: &str) -> (String, bool) {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(shell)
            .arg("-c")
            .arg(script)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let created = std::fs::read_dir(dir.path()).unwrap().next().is_some();
        (String::from_utf8_lossy(&out.stdout).into_owned(), created)
    }

    const HOSTILE: &[&str] = &[
        "$(touch pwned)",
        "`touch pwned`",
        "'",
        "\"",
        "\\",
        "a\\",
        "\\'",
        "'; touch pwned; '",
        "\"; touch pwned; \"",
        "'\"$(touch pwned)\"'",
        "line\ntouch pwned",
        "EOF",
        "x\nEOF\ntouch pwned",
        "*",
        "; touch pwned",
        "&& touch pwned",
        "| touch pwned",
        "a b  c",
        " ",
        "",
        "$HOME",
        "${HOME}",
        "$((1+1))",
        "~",
        "!",
        "#",
        "}",
        ")",
        "$'",
        "\\$(touch pwned)",
        "-n",
        "A=b",
        "tab\there",
        "ünïcødé ✓ 日本",
        "\r",
    ];

    /// The quote contexts: a command template, and the text around the posarg in each line it
    /// prints (every template prints `[…]` lines, one per `[%s]` it prints).
    const CONTEXTS: &[(&str, &str, usize)] = &[
        ("printf '[%s]\\n' {posargs}", "{}", 1),
        ("printf '[%s]\\n' '{posargs}'", "{}", 1),
        ("printf '[%s]\\n' \"{posargs}\"", "{}", 1),
        ("printf '[%s]\\n' 'pre {posargs} post'", "pre {} post", 1),
        ("printf '[%s]\\n' \"pre {posargs} post\"", "pre {} post", 1),
        ("printf '[%s]\\n' x{posargs}y", "x{}y", 1),
        ("printf '[%s]\\n' \"$(printf '%s' {posargs})\"", "{}", 1),
        ("printf '[%s]\\n' \"$(printf '%s' \"{posargs}\")\"", "{}", 1),
        ("printf '[%s]\\n' \"$(printf '%s' '{posargs}')\"", "{}", 1),
        ("printf '[%s]\\n' \"`printf '%s' {posargs}`\"", "{}", 1),
        ("printf '[%s]\\n' \"`printf '%s' '{posargs}'`\"", "{}", 1),
        (
            "printf '[%s]\\n' \"`printf '%s' \\\"{posargs}\\\"`\"",
            "{}",
            1,
        ),
        (
            "x=`printf '%s' \"{posargs}\"`; printf '[%s]\\n' \"$x\"",
            "{}",
            1,
        ),
        (
            "x=`printf '%s' \"$(printf '%s' {posargs})\"`; printf '[%s]\\n' \"$x\"",
            "{}",
            1,
        ),
        (
            "printf '[%s]\\n' \"$(printf '%s' \"$(printf '%s' {posargs})\")\"",
            "{}",
            1,
        ),
        ("cat <<EOF\n[{posargs}]\nEOF", "{}", 1),
        ("cat <<'EOF'\n[{posargs}]\nEOF", "{}", 1),
        ("cat <<-\"EOF\"\n\t[{posargs}]\n\tEOF", "{}", 1),
        ("cat <<EOF\n[$(printf '%s' {posargs})]\nEOF", "{}", 1),
        ("cat <<EOF\n[`printf '%s' '{posargs}'`]\nEOF", "{}", 1),
        (
            "cat <<EOF; cat <<'END'\n[{posargs}]\nEOF\n[{posargs}]\nEND",
            "{}",
            2,
        ),
        ("printf '[%s]\\n' {posargs} # and {posargs}", "{}", 1),
        ("x=abc; printf '[%s]\\n' ${#x}{posargs}", "3{}", 1),
        (
            "printf '[%s]\\n' \"$(case a in a) printf '%s' {posargs};; esac)\"",
            "{}",
            1,
        ),
        (
            "printf '[%s]\\n' \"$(case a in (a) printf '%s' \"{posargs}\";; esac)\"",
            "{}",
            1,
        ),
    ];

    #[test]
    fn hostile_posargs_reach_sh_literally_in_every_quote_context() {
        let mut failures = Vec::new();
        for (context, around, count) in CONTEXTS {
            for arg in HOSTILE {
                let script = match substitute(context, &words(&[arg])) {
                    Ok(script) => script,
                    Err(message) => {
                        // Only a posarg that would end a here-document, or lose tabs in a
                        // `<<-` one, may be refused here.
                        let ends_heredoc = (arg.split('\n').any(|line| line == "EOF")
                            && context.contains("EOF"))
                            || (context.contains("<<-") && arg.contains("\n\t"))
                            || (context.contains("<<EOF") && arg.contains("\\\n"));
                        if !ends_heredoc {
                            failures.push(format!("{context:?} {arg:?}: refused: {message}"));
                        }
                        continue;
                    }
                };
                // `$(…)` and backquotes drop trailing newlines, as they do for any text.
                let arg = if context.contains("$(") || context.contains('`') {
                    arg.trim_end_matches('\n')
                } else {
                    arg
                };
                let want = format!("[{}]\n", around.replace("{}", arg)).repeat(*count);
                for shell in shells() {
                    let (stdout, created) = run_in(shell, &script);
                    if stdout != want || created {
                        failures.push(format!(
                            "{shell} {context:?} {arg:?}: script {script:?} printed \
                             {stdout:?}, created a file: {created}"
                        ));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// `{report_dir}` reaches the shell as the folder's path, literally, in every context a
    /// posarg does; posargs that look like `{report_dir}` stay text.
    #[test]
    fn report_dir_is_quoted_like_one_posarg_and_posargs_are_not_rescanned() {
        let dir = "/tmp/it's $HOME/`x` \"q\"/r@2";
        let mut failures = Vec::new();
        for (context, around, count) in CONTEXTS {
            let context = context.replace("{posargs}", "{report_dir}");
            let script = match super::substitute(&context, &[], Some(dir)) {
                Ok(script) => script,
                Err(message) => {
                    failures.push(format!("{context:?}: refused: {message}"));
                    continue;
                }
            };
            let dir = if context.contains("$(") || context.contains('`') {
                dir.trim_end_matches('\n')
            } else {
                dir
            };
            let want = format!("[{}]\n", around.replace("{}", dir)).repeat(*count);
            for shell in shells() {
                let (stdout, created) = run_in(shell, &script);
                if stdout != want || created {
                    failures.push(format!(
                        "{shell} {context:?}: {script:?} printed {stdout:?}"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        let script = super::substitute(
            "printf '[%s]\\n' {posargs} {report_dir}",
            &words(&["{report_dir}"]),
            Some("/r"),
        )
        .expect("quotable");
        assert_eq!(run_sh(&script).0, "[{report_dir}]\n[/r]\n");
        let err = super::substitute("echo ${x:-{report_dir}}", &[], Some("/r")).unwrap_err();
        assert!(err.starts_with("{report_dir} inside ${…}"), "{err}");
        assert_eq!(
            super::substitute("echo {report_dir}", &[], None).expect("plain"),
            "echo {report_dir}"
        );
    }

    mod random {
        use proptest::prelude::*;

        use super::*;

        /// Strings made of the characters sh gives a meaning somewhere.
        fn hostile() -> impl Strategy<Value = String> {
            let alphabet: Vec<char> = "'\"\\$`(){};&|<>#*?~! \n\taEOF=é".chars().collect();
            prop::collection::vec(prop::sample::select(alphabet), 0..14)
                .prop_map(|chars| chars.into_iter().collect())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            /// Every context at once, one script per shell: what it prints is the literal
            /// text, whatever the posarg holds.
            #[test]
            fn any_posarg_reaches_sh_literally(arg in hostile()) {
                let mut script = String::new();
                let mut want = String::new();
                for (context, around, count) in CONTEXTS {
                    let Ok(text) = substitute(context, std::slice::from_ref(&arg)) else {
                        // Only a posarg that would end a here-document, or lose tabs in a
                        // `<<-` one, may be refused.
                        let ends = arg.split('\n').any(|line| {
                            let line = line.trim_start_matches('\t');
                            line == "EOF" || line == "END"
                        });
                        let tabs = context.contains("<<-") && arg.contains("\n\t");
                        let joined = context.contains("<<EOF") && arg.contains("\\\n");
                        let dash_bug = context.contains("<<")
                            && arg.split('\n').skip(1).any(|line| {
                                let line = line.trim_start_matches('\t');
                                ["E", "EO", "EOF", "EN", "END"].iter().any(|p| {
                                    line.strip_prefix(p).is_some_and(|rest| !rest.is_ascii())
                                })
                            });
                        prop_assert!(
                            ends || tabs || joined || dash_bug,
                            "{context:?} refused {arg:?}"
                        );
                        continue;
                    };
                    let shown = if context.contains("$(") || context.contains('`') {
                        arg.trim_end_matches('\n')
                    } else {
                        &arg
                    };
                    script.push_str(&text);
                    script.push('\n');
                    want.push_str(&format!("[{}]\n", around.replace("{}", shown)).repeat(*count));
                }
                for shell in shells() {
                    let (stdout, created) = run_in(shell, &script);
                    prop_assert!(!created, "{shell} {arg:?} created a file");
                    prop_assert_eq!(&stdout, &want, "{} {:?}", shell, arg);
                }
            }
        }
    }

    #[test]
    fn several_posargs_are_separate_words_outside_quotes_and_one_text_inside() {
        let args = words(&["a b", "$(touch pwned)", ""]);
        let script = substitute("printf '[%s]\\n' {posargs}", &args).unwrap();
        assert_eq!(
            run_sh(&script),
            ("[a b]\n[$(touch pwned)]\n[]\n".to_owned(), false)
        );
        let script = substitute("printf '[%s]\\n' \"{posargs}\"", &args).unwrap();
        assert_eq!(
            run_sh(&script),
            ("[a b $(touch pwned) ]\n".to_owned(), false)
        );
        let script = substitute("printf '[%s]\\n' '{posargs}'", &args).unwrap();
        assert_eq!(
            run_sh(&script),
            ("[a b $(touch pwned) ]\n".to_owned(), false)
        );
    }

    #[test]
    fn a_comment_keeps_the_posargs_on_its_line() {
        let script = substitute("echo ok # {posargs}", &words(&["x\ntouch pwned"])).unwrap();
        assert_eq!(script, "echo ok # x touch pwned");
        assert_eq!(run_sh(&script), ("ok\n".to_owned(), false));
    }

    #[test]
    fn dollar_single_quotes_are_closed_and_reopened() {
        let script = substitute("printf '[%s]' $'a{posargs}b'", &words(&["'x"])).unwrap();
        assert_eq!(script, r"printf '[%s]' $'a'''\''x'$'b'");
        // bash decodes `$'…'`; dash (no `$'…'`) reads `$` then a plain quote. In bash the
        // text is exact; in either no code runs.
        if Path::new("/bin/bash").exists() {
            let out = std::process::Command::new("/bin/bash")
                .args(["-c", &script])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "[a'xb]");
        }
    }

    #[test]
    fn the_default_is_inserted_verbatim_without_posargs() {
        assert_eq!(
            substitute("echo '{posargs:a b}' {posargs:$X}", &[]).unwrap(),
            "echo 'a b' $X"
        );
    }

    #[test]
    fn unsafe_places_are_refused() {
        let refused = [
            ("echo ${X:-{posargs}}", "inside ${…}"),
            ("echo \"${X:-{posargs}}\"", "inside ${…}"),
            ("echo $(( {posargs} + 1 ))", "inside $((…))"),
            ("echo \\{posargs}", "right after a backslash"),
            ("echo \"\\{posargs}\"", "right after a backslash"),
            ("cat <<{posargs}\nx\n", "delimiter"),
            ("cat <<\\{posargs}\nx\n", "cannot quote for"),
            ("(( x = 1 << 2 ))\necho {posargs}", "arithmetic shift"),
            (
                "cat <<EOF; (( 1 << 2 ))\nx\nEOF\n{posargs}\n",
                "arithmetic shift",
            ),
        ];
        for (text, why) in refused {
            let err = substitute(text, &words(&["a"])).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
            // Refused with or without posargs: a config does not break only when given some.
            assert!(substitute(text, &[]).is_err(), "{text:?}");
        }
        let err = substitute("cat <<EOF\n{posargs}\nEOF", &words(&["EOF"])).unwrap_err();
        assert!(err.contains("end the here-document early"), "{err}");
        let err = substitute("cat <<-EOF\nx{posargs}\nEOF", &words(&["\nEOF"])).unwrap_err();
        assert!(err.contains("end the here-document early"), "{err}");
        for arg in ["a\n\tb", "\tb"] {
            let err = substitute("cat <<-EOF\n\t{posargs}\nEOF", &words(&[arg])).unwrap_err();
            assert!(err.contains("lose the tabs"), "{arg:?}: {err}");
        }
        let err = substitute(
            "cat <<EOF\n$(printf %s {posargs})\nEOF",
            &words(&["a\\\nb"]),
        )
        .unwrap_err();
        assert!(err.contains("with a backslash"), "{err}");
        let err = substitute("cat <<EOF\nx{posargs}\nEOF", &words(&["\nEé"])).unwrap_err();
        assert!(err.contains("which dash corrupts"), "{err}");
        // A tab inside a line is kept.
        let script = substitute("cat <<-EOF\n\t[{posargs}]\n\tEOF", &words(&["a\tb"])).unwrap();
        assert_eq!(run_sh(&script), ("[a\tb]\n".to_owned(), false));
    }

    #[test]
    fn a_shift_in_arithmetic_is_not_a_here_document() {
        let script = substitute(
            "echo $((1 << 2))\nprintf '[%s]\\n' {posargs}",
            &words(&["; touch pwned"]),
        )
        .unwrap();
        assert_eq!(run_sh(&script), ("4\n[; touch pwned]\n".to_owned(), false));
    }

    #[test]
    fn plain_text_around_placeholders_is_kept() {
        assert_eq!(
            substitute(
                "a {posargs} b '{posargs}' \"{posargs}\"",
                &words(&["x", "y"])
            )
            .unwrap(),
            "a x y b 'x y' \"x y\""
        );
        assert_eq!(
            substitute("no placeholder", &words(&["x"])).unwrap(),
            "no placeholder"
        );
    }
}
