//! A prompter that answers from a script and records what it was asked, so
//! the questionnaire's logic is tested without a terminal.

use std::collections::VecDeque;

use crate::questionnaire::prompt::{Interrupted, Prompter, Question};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Presses Enter: takes whatever is pre-selected or pre-filled.
    Enter,
    /// Types this text.
    Text(&'static str),
    /// Picks the option that starts with this label.
    Pick(&'static str),
    /// Answers yes or no.
    Yes,
    No,
    /// Leaves exactly the options starting with these labels ticked.
    Check(&'static [&'static str]),
}

/// What was asked, with what was pre-selected, as a person would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub question: Question,
    /// The pre-filled text, pre-selected option, yes/no, or ticked options.
    pub default: String,
    pub options: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Script {
    answers: VecDeque<Answer>,
    pub asked: Vec<Asked>,
    pub shown: Vec<String>,
}

impl Script {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Script {
        Script {
            answers: answers.into_iter().collect(),
            ..Script::default()
        }
    }

    /// Everything shown, in one string.
    pub fn output(&self) -> String {
        self.shown.join("\n")
    }

    /// Whether every scripted answer was used.
    pub fn finished(&self) -> bool {
        self.answers.is_empty()
    }

    /// The question asked whose text contains `needle`.
    pub fn question(&self, needle: &str) -> &Asked {
        self.asked
            .iter()
            .find(|a| a.question.text.contains(needle))
            .unwrap_or_else(|| {
                panic!(
                    "no question contains {needle:?}; asked: {:#?}",
                    self.texts()
                )
            })
    }

    pub fn texts(&self) -> Vec<&str> {
        self.asked
            .iter()
            .map(|a| a.question.text.as_str())
            .collect()
    }

    fn next(&mut self, asked: Asked) -> Result<Answer, Interrupted> {
        self.asked.push(asked);
        self.answers.pop_front().ok_or(Interrupted)
    }

    fn mismatch(&self, answer: &Answer) -> ! {
        let last = self.asked.last().expect("asked before answering");
        panic!("answer {answer:?} does not fit {last:#?}")
    }
}

fn index_of(options: &[&str], label: &str) -> Option<usize> {
    options
        .iter()
        .position(|o| *o == label)
        .or_else(|| options.iter().position(|o| o.starts_with(label)))
}

impl Prompter for Script {
    fn text(&mut self, question: &Question, default: Option<&str>) -> Result<String, Interrupted> {
        let answer = self.next(Asked {
            question: question.clone(),
            default: default.unwrap_or_default().to_owned(),
            options: Vec::new(),
        })?;
        match answer {
            Answer::Enter | Answer::Text("") => Ok(default.unwrap_or_default().to_owned()),
            Answer::Text(t) => Ok(t.to_owned()),
            other => self.mismatch(&other),
        }
    }

    fn select(
        &mut self,
        question: &Question,
        options: &[&str],
        default: usize,
    ) -> Result<usize, Interrupted> {
        let answer = self.next(Asked {
            question: question.clone(),
            default: options[default].to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        })?;
        match answer {
            Answer::Enter => Ok(default),
            Answer::Pick(label) => match index_of(options, label) {
                Some(i) => Ok(i),
                None => self.mismatch(&Answer::Pick(label)),
            },
            other => self.mismatch(&other),
        }
    }

    fn confirm(&mut self, question: &Question, default: bool) -> Result<bool, Interrupted> {
        let answer = self.next(Asked {
            question: question.clone(),
            default: if default { "yes" } else { "no" }.to_owned(),
            options: Vec::new(),
        })?;
        match answer {
            Answer::Enter => Ok(default),
            Answer::Yes => Ok(true),
            Answer::No => Ok(false),
            other => self.mismatch(&other),
        }
    }

    fn multi_select(
        &mut self,
        question: &Question,
        options: &[&str],
        checked: &[bool],
    ) -> Result<Vec<usize>, Interrupted> {
        let ticked: Vec<&str> = options
            .iter()
            .zip(checked)
            .filter(|(_, c)| **c)
            .map(|(o, _)| *o)
            .collect();
        let answer = self.next(Asked {
            question: question.clone(),
            default: ticked.join(", "),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        })?;
        match answer {
            Answer::Enter => Ok((0..options.len()).filter(|i| checked[*i]).collect()),
            Answer::Check(labels) => {
                let mut picked = Vec::new();
                for label in labels {
                    match index_of(options, label) {
                        Some(i) => picked.push(i),
                        None => self.mismatch(&Answer::Check(labels)),
                    }
                }
                picked.sort_unstable();
                Ok(picked)
            }
            other => self.mismatch(&other),
        }
    }

    fn show(&mut self, text: &str) {
        self.shown.push(text.to_owned());
    }
}
