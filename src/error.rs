//! Errors as one line: what logs, `/status` and the store show of a failure.

/// An error and its causes on one line, `a: b: c`, skipping causes that
/// repeat their parent's text (reqwest and hyper often do).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layers(texts: &[&'static str]) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |cause, text| {
                Some(Layer {
                    text,
                    cause: cause.map(Box::new),
                })
            })
            .expect("at least one layer")
    }

    #[test]
    fn causes_are_joined_and_repeats_skipped() {
        assert_eq!(error_chain(&layers(&["alone"])), "alone");
        assert_eq!(
            error_chain(&layers(&["cannot reach x", "connect", "refused"])),
            "cannot reach x: connect: refused"
        );
        // hyper often repeats its cause in its own text.
        assert_eq!(
            error_chain(&layers(&["error sending request: timed out", "timed out"])),
            "error sending request: timed out"
        );
    }
}
