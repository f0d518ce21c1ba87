//! Printing the `message` and `progress` notifications a command sends while the client
//! waits for its reply (lightning-cli's `handle_notify`).

use serde_json::Value;
use std::io::Write;

/// Log levels in order; `-N` sets the lowest one printed, `none` prints nothing.
const LEVELS: [&str; 6] = ["io", "trace", "debug", "info", "unusual", "broken"];

/// A level name as Core Lightning parses it (`log_level_parse`): any case, plus the
/// aliases `warn` (= unusual) and `error` (= broken).
fn level_index(s: &str) -> Option<usize> {
    let s = s.to_ascii_lowercase();
    let s = match s.as_str() {
        "warn" => "unusual",
        "error" => "broken",
        other => other,
    };
    LEVELS.iter().position(|l| *l == s)
}

/// Parses `-N`: a level name, or `none` (→ `None`).
pub fn parse_level(s: &str) -> Result<Option<usize>, String> {
    if s == "none" {
        return Ok(None);
    }
    level_index(s)
        .map(Some)
        .ok_or_else(|| "Invalid level".to_string())
}

/// Renders notifications to text; remembers whether a progress bar is mid-line.
#[derive(Debug)]
pub struct Printer {
    pub threshold: Option<usize>,
    pub last_was_progress: bool,
}

impl Printer {
    pub fn new(threshold: Option<usize>) -> Self {
        Printer {
            threshold,
            last_was_progress: false,
        }
    }

    /// Text to print for one notification (may be empty).
    pub fn render(&mut self, method: &str, params: &Value) -> String {
        let Some(threshold) = self.threshold else {
            return String::new();
        };
        match method {
            "message" => {
                let level = params
                    .get("level")
                    .and_then(Value::as_str)
                    .and_then(level_index);
                match level {
                    Some(level) if level >= threshold => {}
                    _ => return String::new(),
                }
                let mut out = String::new();
                if self.last_was_progress {
                    out.push('\n');
                }
                self.last_was_progress = false;
                if let Some(msg) = params.get("message") {
                    // lightning-cli prints the token as written: a string's escapes
                    // (`\n`, `\"`) stay escaped, so one message is one line.
                    let text = match msg {
                        Value::String(s) => {
                            let q = serde_json::to_string(s).unwrap_or_default();
                            q.get(1..q.len().saturating_sub(1))
                                .unwrap_or_default()
                                .to_string()
                        }
                        other => other.to_string(),
                    };
                    out.push_str(&format!("# {text}\n"));
                }
                out
            }
            "progress" => self.progress(params),
            _ => String::new(),
        }
    }

    fn progress(&mut self, params: &Value) -> String {
        // Counts are u32 as in lightning-cli (anything else is ignored), widened so the
        // arithmetic below cannot overflow whatever a daemon sends.
        let num = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .map(u64::from)
        };
        let (Some(n), Some(total)) = (num(params.get("num")), num(params.get("total"))) else {
            return String::new();
        };
        let mut out = String::from("\r# ");
        if let Some(stage) = params.get("stage") {
            let sn = num(stage.get("num")).unwrap_or(0);
            let st = num(stage.get("total")).unwrap_or(0);
            let w = st.to_string().len();
            out.push_str(&format!("Stage {:>w$}/{st} ", sn + 1));
        }
        let w = total.to_string().len();
        out.push_str(&format!("{:>w$}/{total} ", n + 1));
        const WIDTH: u64 = 60;
        // lightning-cli divides by total-1 (a crash for total 1): a one-step job is full.
        let filled = if total <= 1 {
            WIDTH
        } else {
            (WIDTH * n / (total - 1)).min(WIDTH)
        };
        out.push('|');
        out.extend(std::iter::repeat_n('=', filled as usize));
        out.extend(std::iter::repeat_n(' ', (WIDTH - filled) as usize));
        out.push('|');
        if n + 1 == total {
            out.push('\n');
            self.last_was_progress = false;
        } else {
            self.last_was_progress = true;
        }
        out
    }

    /// Prints one notification to stdout.
    pub fn print(&mut self, method: &str, params: &Value) {
        let text = self.render(method, params);
        if !text.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_at_or_above_the_level_are_printed() {
        let mut p = Printer::new(parse_level("info").unwrap());
        assert_eq!(
            p.render("message", &json!({"level":"info","message":"hi"})),
            "# hi\n"
        );
        assert_eq!(
            p.render("message", &json!({"level":"debug","message":"lo"})),
            ""
        );
        assert_eq!(
            p.render("message", &json!({"level":"broken","message":"b"})),
            "# b\n"
        );
        assert_eq!(p.render("other", &json!({})), "");
    }

    #[test]
    fn levels_parse_in_any_case_with_warn_and_error_aliases() {
        assert_eq!(parse_level("WARN"), parse_level("unusual"));
        assert_eq!(parse_level("error"), parse_level("broken"));
        assert_eq!(parse_level("Debug"), parse_level("debug"));
        let mut p = Printer::new(parse_level("info").unwrap());
        // pyln's notify_message uses level "warn".
        assert_eq!(
            p.render("message", &json!({"level":"warn","message":"w"})),
            "# w\n"
        );
        assert_eq!(
            p.render("message", &json!({"level":"ERROR","message":"e"})),
            "# e\n"
        );
        let mut p = Printer::new(parse_level("error").unwrap());
        assert_eq!(
            p.render("message", &json!({"level":"warn","message":"w"})),
            ""
        );
    }

    #[test]
    fn message_text_is_printed_as_its_json_token() {
        let mut p = Printer::new(parse_level("info").unwrap());
        assert_eq!(
            p.render("message", &json!({"level":"info","message":"a\nb \"q\""})),
            "# a\\nb \\\"q\\\"\n"
        );
    }

    #[test]
    fn none_prints_nothing_and_bad_levels_are_refused() {
        let mut p = Printer::new(parse_level("none").unwrap());
        assert_eq!(
            p.render("message", &json!({"level":"broken","message":"b"})),
            ""
        );
        assert_eq!(parse_level("loud"), Err("Invalid level".into()));
    }

    #[test]
    fn progress_bar_and_newline_before_next_message() {
        let mut p = Printer::new(Some(3));
        let bar = p.render("progress", &json!({"num":0,"total":3}));
        assert_eq!(bar, format!("\r# 1/3 |{}|", " ".repeat(60)));
        assert!(p.last_was_progress);
        assert_eq!(
            p.render("message", &json!({"level":"info","message":"m"})),
            "\n# m\n"
        );
        let done = p.render(
            "progress",
            &json!({"num":2,"total":3,"stage":{"num":0,"total":2}}),
        );
        assert_eq!(done, format!("\r# Stage 1/2 3/3 |{}|\n", "=".repeat(60)));
        assert_eq!(p.render("progress", &json!({"num":u64::MAX,"total":3})), "");
        assert_eq!(
            p.render("progress", &json!({"num":0,"total":1})),
            format!("\r# 1/1 |{}|\n", "=".repeat(60))
        );
    }
}
