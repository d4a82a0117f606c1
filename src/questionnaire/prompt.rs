//! The narrow interface between the questionnaire and whoever answers it:
//! a terminal in `commands::interactive`, a script in tests. Keeping it to
//! four kinds of question plus "show this" is what lets the whole
//! questionnaire run without a terminal.

use std::fmt;

/// One question, in plain language, with the reason it is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What is asked: "Must consumers be able to re-read past messages?".
    pub text: String,
    /// One line on why the answer matters for the recommendation.
    pub hint: String,
}

impl Question {
    pub fn new(text: impl Into<String>, hint: impl Into<String>) -> Question {
        Question {
            text: text.into(),
            hint: hint.into(),
        }
    }
}

/// The person stopped answering (Ctrl-C, Escape, or the terminal went away);
/// nothing should be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the questionnaire was interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Asks questions and shows text. Every method returns what was chosen;
/// validation and re-asking are the questionnaire's job, not the prompter's.
pub trait Prompter {
    /// Free text. An empty answer means `default` when there is one, and
    /// the empty string otherwise.
    fn text(&mut self, question: &Question, default: Option<&str>) -> Result<String, Interrupted>;

    /// One of `options`, by index; `default` is pre-selected.
    fn select(
        &mut self,
        question: &Question,
        options: &[&str],
        default: usize,
    ) -> Result<usize, Interrupted>;

    /// Yes or no, with `default` pre-selected.
    fn confirm(&mut self, question: &Question, default: bool) -> Result<bool, Interrupted>;

    /// Any number of `options`, by index, in order; `checked[i]` says
    /// whether option `i` starts ticked.
    fn multi_select(
        &mut self,
        question: &Question,
        options: &[&str],
        checked: &[bool],
    ) -> Result<Vec<usize>, Interrupted>;

    /// Shows an explanation: a recommendation, a warning, a rejected answer.
    fn show(&mut self, text: &str);
}
