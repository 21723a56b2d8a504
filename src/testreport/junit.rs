//! A streaming reader of `JUnit` XML reports, in the dialects test tools really write.
//!
//! One pass over `quick-xml` events, never a tree in memory: a report of 10,000 testcases
//! costs its testcases and one read buffer. What it accepts, from the tools' own output:
//!
//! - the root `<testsuites>` (pytest, jest-junit, go-junit-report, nextest) or a lone
//!   `<testsuite>` (Maven Surefire/Failsafe's `TEST-*.xml`, pytest's legacy family), and
//!   suites nested in suites (Jenkins-style, some Gradle and Ant reports);
//! - per `<testcase>`: `name`, `classname` (else the innermost suite's `name`), `file` and
//!   `line` (else the suite's `file`, else where the failure text says it failed:
//!   `tests/test_a.py:12: AssertionError` as pytest ends a traceback, `x_test.go:7: got 1`
//!   as `go test` prints), `time`;
//! - outcomes: `<failure>`, `<error>`, `<skipped>` (and `<disabled>`), with `message`,
//!   `type` and their text; Surefire's and nextest's `<flakyFailure>`/`<flakyError>` (the test
//!   passed on a rerun) and `<rerunFailure>`/`<rerunError>` (earlier tries of a failure) do
//!   not change the status; `<system-out>`, `<properties>` and everything unknown is skipped;
//! - namespaces ignored (local names), entity and character references resolved, CDATA
//!   taken as is; nothing is fetched (no DTD, no external entity).
//!
//! A document that breaks off or is not well formed is an [`ParseError::Xml`] at the byte
//! where it went wrong; the testcases completed before that have already been handed out.

use std::io::{self, BufRead};
use std::sync::LazyLock;
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{CaseStatus, TestCase};

/// Most bytes of a failure's text kept (a traceback's start says the most; the rest is in
/// the env's log).
pub const TEXT_CAP: usize = 8 * 1024;
/// Most bytes of a `message` attribute kept.
const MESSAGE_CAP: usize = 4 * 1024;

/// Why a report was not (wholly) read.
#[derive(Debug)]
pub enum ParseError {
    /// The root element is not `<testsuites>` or `<testsuite>` (`""`: the file is empty).
    NotJunit {
        /// The root element's name.
        root: String,
    },
    /// Not well-formed XML, or cut off, at byte `offset`.
    Xml {
        /// Where it went wrong.
        offset: u64,
        /// What went wrong.
        message: String,
    },
    /// The document ends (at byte `offset`) inside `<element>`, opened at byte `opened`.
    Truncated {
        /// The end of the file.
        offset: u64,
        /// The innermost element still open.
        element: String,
        /// Where it was opened.
        opened: u64,
    },
    /// The file could not be read.
    Io(io::Error),
}

/// What an open element is, to the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Open {
    /// `<testsuites>`.
    Suites,
    /// `<testsuite>`, with its name and file.
    Suite {
        name: Option<String>,
        file: Option<String>,
    },
    /// `<testcase>` (the case being built is [`Reader`]'s `case`).
    Case,
    /// An outcome element of the case whose text is the failure's.
    Outcome,
    /// Anything else: skipped with its content.
    Other,
}

/// Reads one report from `input`, handing each completed testcase to `sink` (tagged with
/// report number `report`).
pub fn parse(
    input: impl BufRead,
    report: usize,
    sink: &mut dyn FnMut(TestCase),
) -> Result<(), ParseError> {
    let mut reader = Reader::from_reader(input);
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut stack: Vec<(Open, u64, String)> = Vec::new();
    let mut case: Option<TestCase> = None;
    let mut seen_root = false;
    loop {
        let at = reader.buffer_position();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(quick_xml::Error::Io(e)) => {
                return Err(ParseError::Io(io::Error::new(e.kind(), e.to_string())));
            }
            Err(e) => {
                return Err(ParseError::Xml {
                    offset: reader.error_position(),
                    message: format!("malformed XML: {e}"),
                });
            }
        };
        match event {
            Event::Start(e) => {
                let open = open(&e, &stack, &mut case, report, &mut seen_root)?;
                let name = local_name(&e);
                stack.push((open, at, name));
            }
            Event::Empty(e) => {
                let open = open(&e, &stack, &mut case, report, &mut seen_root)?;
                close(&open, &mut case, sink);
            }
            Event::End(_) => {
                if let Some((open, _, _)) = stack.pop() {
                    close(&open, &mut case, sink);
                }
            }
            Event::Text(text) => collect(&stack, &mut case, &text.xml10_content()),
            Event::CData(text) => collect(&stack, &mut case, &text.xml10_content()),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .map_or_else(|| format!("&{};", &*reference), str::to_owned),
                    Err(e) => {
                        return Err(ParseError::Xml {
                            offset: at,
                            message: format!("malformed XML: {e}"),
                        });
                    }
                };
                collect(&stack, &mut case, &resolved);
            }
            Event::Eof => {
                if let Some((_, opened, name)) = stack.pop() {
                    return Err(ParseError::Truncated {
                        offset: reader.buffer_position(),
                        element: name,
                        opened,
                    });
                }
                if !seen_root {
                    return Err(ParseError::NotJunit {
                        root: String::new(),
                    });
                }
                return Ok(());
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        buf.clear();
    }
}

/// What `e` opens, given what is open; starts a testcase or an outcome on it.
fn open(
    e: &BytesStart<'_>,
    stack: &[(Open, u64, String)],
    case: &mut Option<TestCase>,
    report: usize,
    seen_root: &mut bool,
) -> Result<Open, ParseError> {
    let name = local_name(e);
    if !*seen_root {
        *seen_root = true;
        if name != "testsuites" && name != "testsuite" {
            return Err(ParseError::NotJunit { root: name });
        }
    }
    let parent = stack.last().map(|(open, _, _)| open);
    Ok(match (parent, name.as_str()) {
        (None | Some(Open::Suites | Open::Suite { .. }), "testsuites") => Open::Suites,
        (None | Some(Open::Suites | Open::Suite { .. }), "testsuite") => Open::Suite {
            name: attr(e, "name"),
            file: attr(e, "file").or_else(|| attr(e, "filepath")),
        },
        (Some(Open::Suites | Open::Suite { .. }), "testcase") => {
            let suite = stack.iter().rev().find_map(|(open, _, _)| match open {
                Open::Suite { name, file } => Some((name, file)),
                _ => None,
            });
            *case = Some(TestCase {
                name: attr(e, "name").unwrap_or_default(),
                classname: attr(e, "classname")
                    .filter(|c| !c.is_empty())
                    .or_else(|| suite.and_then(|(name, _)| name.clone())),
                file: attr(e, "file")
                    .or_else(|| attr(e, "filepath"))
                    .or_else(|| suite.and_then(|(_, file)| file.clone())),
                line: attr(e, "line").and_then(|line| line.trim().parse().ok()),
                status: CaseStatus::Passed,
                time: attr(e, "time").and_then(|t| seconds(&t)),
                message: None,
                kind: None,
                text: String::new(),
                report,
            });
            Open::Case
        }
        (Some(Open::Case), outcome @ ("failure" | "error" | "skipped" | "disabled")) => {
            let status = match outcome {
                "failure" => CaseStatus::Failed,
                "error" => CaseStatus::Errored,
                _ => CaseStatus::Skipped,
            };
            if let Some(case) = case.as_mut() {
                // An error beats a failure beats a skip, whatever order they come in.
                let rank = |s: CaseStatus| match s {
                    CaseStatus::Passed => 0,
                    CaseStatus::Skipped => 1,
                    CaseStatus::Failed => 2,
                    CaseStatus::Errored => 3,
                };
                if rank(status) > rank(case.status) {
                    case.status = status;
                    case.message = attr(e, "message")
                        .filter(|m| !m.trim().is_empty())
                        .map(|m| capped(m, MESSAGE_CAP));
                    case.kind = attr(e, "type").filter(|t| !t.is_empty());
                    case.text.clear();
                    return Ok(Open::Outcome);
                }
            }
            Open::Other
        }
        _ => Open::Other,
    })
}

/// Ends what `open` opened: a finished testcase goes to `sink`.
fn close(open: &Open, case: &mut Option<TestCase>, sink: &mut dyn FnMut(TestCase)) {
    if *open == Open::Case
        && let Some(mut done) = case.take()
    {
        strip_colours(&mut done.text);
        if done.status.is_failure() {
            locate(&mut done);
        }
        sink(done);
    }
}

/// Removes colour codes from a failure's text: a tool run with colour forced (runall's TUI
/// and `--ci` colour mode tell children to) writes its traceback coloured, as ESC sequences
/// or, in pytest's XML-safe spelling, as `#x1B[31m`. They carry nothing but noise, and they
/// would hide `path:line:` from [`locate`].
fn strip_colours(text: &mut String) {
    static SGR: LazyLock<Option<regex::Regex>> =
        LazyLock::new(|| regex::Regex::new(r"(?:\x1b|#x1B)\[[0-9;]*m").ok());
    if let Some(sgr) = SGR.as_ref()
        && sgr.is_match(text)
    {
        *text = sgr.replace_all(text, "").into_owned();
    }
}

/// Adds text to the open outcome's text (bounded).
fn collect(stack: &[(Open, u64, String)], case: &mut Option<TestCase>, text: &str) {
    if let (Some((Open::Outcome, _, _)), Some(case)) = (stack.last(), case.as_mut()) {
        let room = TEXT_CAP.saturating_sub(case.text.len());
        if room > 0 {
            case.text.push_str(prefix(text, room));
        }
    }
}

/// Where the failure text says the test failed, when the attributes did not say: the last
/// `path.ext:LINE:` that starts a line (pytest's crash line, `go test`'s `file_test.go:7:`,
/// Ruby's `./spec/a_spec.rb:31:in`), else Rust's `panicked at src/x.rs:LINE:COL`. With a
/// `file` attribute only a place in that file gives the line.
fn locate(case: &mut TestCase) {
    static PATTERNS: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
        [
            r"(?m)^[ \t]*([^\s:()<>]+\.[A-Za-z0-9]+):([0-9]+):",
            r"panicked at ([^\s:()<>]+\.rs):([0-9]+):[0-9]+",
        ]
        .into_iter()
        .filter_map(|pattern| regex::Regex::new(pattern).ok())
        .collect()
    });
    if case.line.is_some() {
        return;
    }
    for regex in PATTERNS.iter() {
        let found = regex
            .captures_iter(&case.text)
            .filter_map(|c| Some((c.get(1)?.as_str(), c.get(2)?.as_str().parse::<u32>().ok()?)))
            .filter(|(path, _)| match &case.file {
                None => true,
                Some(file) => file.ends_with(path) || path.ends_with(file.as_str()),
            })
            .last();
        if let Some((path, line)) = found {
            if case.file.is_none() {
                case.file = Some(path.to_owned());
            }
            case.line = Some(line);
            return;
        }
    }
}

/// The element's name without a namespace prefix.
fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// An attribute's value, references resolved; `None` when absent or malformed.
fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .filter_map(Result::ok)
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(std::borrow::Cow::into_owned)
        })
}

/// `time="1.5"` (also `1,234.5`, as some Surefire locales write it, and `0,005`, a decimal
/// comma: a comma with no dot is the decimal point).
fn seconds(text: &str) -> Option<Duration> {
    let text = text.trim();
    let secs: f64 = if text.contains('.') {
        text.replace(',', "").parse().ok()?
    } else {
        text.replacen(',', ".", 1).parse().ok()?
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// `text` cut to at most `cap` bytes on a character boundary.
fn prefix(text: &str, cap: usize) -> &str {
    if text.len() <= cap {
        return text;
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn capped(mut text: String, cap: usize) -> String {
    let keep = prefix(&text, cap).len();
    text.truncate(keep);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(xml: &str) -> (Vec<TestCase>, Result<(), ParseError>) {
        let mut out = Vec::new();
        let result = parse(xml.as_bytes(), 0, &mut |case| out.push(case));
        (out, result)
    }

    fn ok(xml: &str) -> Vec<TestCase> {
        let (cases, result) = cases(xml);
        if let Err(e) = result {
            panic!("{e:?}");
        }
        cases
    }

    #[test]
    fn times_with_a_thousands_or_a_decimal_comma() {
        let ms = |text| seconds(text).map(|d| d.as_millis());
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms(" 1,234.5 "), Some(1_234_500));
        assert_eq!(ms("0,005"), Some(5));
        assert_eq!(ms("12"), Some(12_000));
        assert_eq!(ms("x"), None);
    }

    #[test]
    fn outcomes_messages_and_references() {
        let got = ok(r#"<?xml version="1.0"?>
<testsuites><testsuite name="s">
  <testcase classname="m" name="ok[&quot;a&quot;]" time="0.25"/>
  <testcase classname="m" name="bad"><failure message="assert 1 &lt; 0" type="AssertionError">tb &amp; more<![CDATA[ <raw> ]]>&#x263A;</failure></testcase>
  <testcase name="err"><error message="fixture"/></testcase>
  <testcase name="skip"><skipped message="no db"/></testcase>
</testsuite></testsuites>"#);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].name, "ok[\"a\"]");
        assert_eq!(got[0].time, Some(Duration::from_millis(250)));
        assert_eq!(got[0].status, CaseStatus::Passed);
        assert_eq!(got[1].status, CaseStatus::Failed);
        assert_eq!(got[1].message.as_deref(), Some("assert 1 < 0"));
        assert_eq!(got[1].kind.as_deref(), Some("AssertionError"));
        assert_eq!(got[1].text, "tb & more <raw> \u{263a}");
        assert_eq!(got[2].status, CaseStatus::Errored);
        assert_eq!(got[2].classname.as_deref(), Some("s"), "the suite's name");
        assert_eq!(got[3].status, CaseStatus::Skipped);
        assert_eq!(got[3].message.as_deref(), Some("no db"));
    }

    #[test]
    fn flaky_and_rerun_elements_do_not_change_the_status() {
        let got = ok(r#"<testsuite name="s">
  <testcase name="flaky"><flakyFailure message="first try" type="x"><stackTrace>at</stackTrace></flakyFailure></testcase>
  <testcase name="failed"><failure message="third try"/><rerunFailure message="1st"/><rerunFailure message="2nd"/></testcase>
</testsuite>"#);
        assert_eq!(got[0].status, CaseStatus::Passed);
        assert_eq!(got[1].status, CaseStatus::Failed);
        assert_eq!(got[1].message.as_deref(), Some("third try"));
    }

    #[test]
    fn an_error_beats_a_failure_and_text_is_bounded() {
        let long = "x".repeat(TEXT_CAP * 2);
        let xml = format!(
            "<testsuite><testcase name=\"t\"><failure>f</failure><error>{long}</error></testcase></testsuite>"
        );
        let got = ok(&xml);
        assert_eq!(got[0].status, CaseStatus::Errored);
        assert_eq!(got[0].text.len(), TEXT_CAP);
    }

    #[test]
    fn nested_suites_namespaces_and_suite_files() {
        let got = ok(r#"<j:testsuites xmlns:j="urn:x"><j:testsuite name="outer">
  <j:testsuite name="inner" file="spec/a.spec.js"><j:testcase name="a"/></j:testsuite>
  <j:testcase name="b"/>
</j:testsuite></j:testsuites>"#);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].classname.as_deref(), Some("inner"));
        assert_eq!(got[0].file.as_deref(), Some("spec/a.spec.js"));
        assert_eq!(got[1].classname.as_deref(), Some("outer"));
        assert_eq!(got[1].file, None);
    }

    #[test]
    fn the_failure_text_gives_file_and_line_when_attributes_do_not() {
        let got = ok(r#"<testsuite>
<testcase classname="tests.test_m" name="t"><failure message="assert 2 == 3">def t():
&gt;       assert 2 == 3
E       assert 2 == 3

tests/helpers.py:4: in check
    x
tests/test_m.py:12: AssertionError</failure></testcase>
<testcase classname="pkg" name="TestX"><failure message="Failed">    x_test.go:7: got 1, want 2</failure></testcase>
<testcase name="keeps" file="a/b.py" line="3"><failure>c.py:9: no</failure></testcase>
<testcase name="only-file" file="src/b.py"><failure>other.py:1: in x
b.py:20: boom</failure></testcase>
</testsuite>"#);
        assert_eq!(got[0].location().as_deref(), Some("tests/test_m.py:12"));
        assert_eq!(got[1].location().as_deref(), Some("x_test.go:7"));
        assert_eq!(got[2].location().as_deref(), Some("a/b.py:3"));
        assert_eq!(got[3].location().as_deref(), Some("src/b.py:20"));
    }

    #[test]
    fn colour_codes_leave_the_text_and_the_location_is_found_through_them() {
        let got = ok(
            "<testsuite><testcase name=\"t\"><failure>#x1B[1m#x1B[31mE   assert 1#x1B[0m\n\
                      #x1B[1m#x1B[31mtests/test_a.py#x1B[0m:6: AssertionError\n\x1b[33mx\x1b[0m\
                      </failure></testcase></testsuite>",
        );
        assert_eq!(
            got[0].text,
            "E   assert 1\ntests/test_a.py:6: AssertionError\nx"
        );
        assert_eq!(got[0].location().as_deref(), Some("tests/test_a.py:6"));
    }

    #[test]
    fn a_truncated_report_keeps_its_complete_testcases() {
        let (got, result) = cases("<testsuite>\n<testcase name=\"a\"/>\n<testcase name=\"b\">");
        assert_eq!(got.len(), 1);
        let Err(ParseError::Truncated {
            offset,
            element,
            opened,
        }) = result
        else {
            panic!("{result:?}");
        };
        assert_eq!((offset, element.as_str(), opened), (52, "testcase", 33));
    }

    #[test]
    fn malformed_xml_names_the_byte() {
        let (got, result) = cases("<testsuite>\n<testcase name=\"a\"/>\n</testcase>");
        assert_eq!(got.len(), 1);
        let Err(ParseError::Xml { offset, message }) = result else {
            panic!("{result:?}");
        };
        assert!(message.starts_with("malformed XML"), "{message}");
        assert!(offset >= 33, "{offset}");
    }

    #[test]
    fn other_documents_are_not_junit() {
        for (xml, root) in [
            ("<coverage/>", "coverage"),
            ("", ""),
            ("<?xml version=\"1.0\"?>", ""),
        ] {
            let (got, result) = cases(xml);
            assert!(got.is_empty());
            match result {
                Err(ParseError::NotJunit { root: r }) => assert_eq!(r, root),
                other => panic!("{xml}: {other:?}"),
            }
        }
    }
}
