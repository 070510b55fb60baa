use std::sync::mpsc;
use std::thread;

use crate::{Encoder, Error, Result};

type Reply = mpsc::Sender<Result<Vec<Vec<f32>>>>;

/// Runs an [`Encoder`] on a thread of its own; clone [`EncoderHandle`]s to use it from anywhere.
#[derive(Debug)]
pub struct EncoderService;

impl EncoderService {
    /// Moves `encoder` onto a new thread and returns a handle to it. The thread ends when the
    /// last handle is dropped.
    pub fn spawn(encoder: Box<dyn Encoder>) -> EncoderHandle {
        let key = encoder.model_key().to_string();
        let dim = encoder.dim();
        let (tx, rx) = mpsc::channel::<(Vec<String>, Reply)>();
        let span = tracing::Span::current();
        thread::Builder::new()
            .name("encoder".into())
            .spawn(move || {
                let _entered = span.enter();
                for (texts, reply) in rx {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    let result = encoder.embed(&refs);
                    // The asker may have gone away; that is not an error here.
                    let _ = reply.send(result);
                }
            })
            .expect("spawning the encoder thread");
        EncoderHandle { tx, key, dim }
    }
}

/// A cheap, cloneable, thread-safe way to reach an encoder running in an [`EncoderService`].
#[derive(Clone, Debug)]
pub struct EncoderHandle {
    tx: mpsc::Sender<(Vec<String>, Reply)>,
    key: String,
    dim: usize,
}

impl EncoderHandle {
    pub fn embed_owned(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        let (reply_tx, reply_rx) = mpsc::channel();
        self.tx
            .send((texts, reply_tx))
            .map_err(|_| Error::Stopped)?;
        reply_rx.recv().map_err(|_| Error::Stopped)?
    }
}

impl Encoder for EncoderHandle {
    fn model_key(&self) -> &str {
        &self.key
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_owned(texts.iter().map(|t| t.to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in encoder for testing the plumbing only: its vectors mean nothing.
    struct Lengths;

    impl Encoder for Lengths {
        fn model_key(&self) -> &str {
            "lengths"
        }
        fn dim(&self) -> usize {
            1
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    #[test]
    fn handles_from_many_threads_get_their_own_answers() {
        let handle = EncoderService::spawn(Box::new(Lengths));
        assert_eq!((handle.model_key(), handle.dim()), ("lengths", 1));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let h = handle.clone();
                thread::spawn(move || {
                    let text = "x".repeat(i);
                    assert_eq!(
                        h.embed(&[&text, "ab"]).unwrap(),
                        vec![vec![i as f32], vec![2.0]]
                    );
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
