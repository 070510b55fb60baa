use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;

use crate::{Encoder, Error, Result};

type Reply = mpsc::Sender<Result<Vec<Vec<f32>>>>;

/// Requests of at most this many texts are interactive (a search query, say).
const SMALL_REQUEST: usize = 4;

/// Runs an [`Encoder`] on a thread of its own; clone [`EncoderHandle`]s to use it from anywhere.
///
/// The thread schedules like a small inference server, so that searches stay responsive while
/// papers are being encoded and under concurrent load:
/// - small requests (queries) that are waiting are encoded together in one batch (dynamic
///   batching: 16 concurrent queries cost one forward pass, not 16);
/// - large requests (papers) are cut into batches, longest-first order kept across the whole
///   request, and waiting queries are served between two batches instead of after all of them.
#[derive(Debug)]
pub struct EncoderService;

struct Job {
    texts: Vec<String>,
    /// Positions of `texts` in the order they are encoded (by length, for less padding).
    order: Vec<usize>,
    /// How many of `order` are done.
    done: usize,
    out: Vec<Vec<f32>>,
    reply: Reply,
}

impl Job {
    fn new(texts: Vec<String>, reply: Reply) -> Job {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let out = vec![Vec::new(); texts.len()];
        Job {
            texts,
            order,
            done: 0,
            out,
            reply,
        }
    }

    fn is_small(&self) -> bool {
        self.texts.len() <= SMALL_REQUEST
    }
}

fn enqueue((texts, reply): (Vec<String>, Reply), small: &mut Vec<Job>, large: &mut VecDeque<Job>) {
    let job = Job::new(texts, reply);
    if job.is_small() {
        small.push(job)
    } else {
        large.push_back(job)
    }
}

/// Encodes every waiting small job in one batch (up to `batch` texts) and answers each.
fn run_small(encoder: &dyn Encoder, jobs: Vec<Job>) {
    let refs: Vec<&str> = jobs
        .iter()
        .flat_map(|j| j.texts.iter().map(String::as_str))
        .collect();
    match encoder.embed(&refs) {
        Ok(vectors) => {
            let mut vectors = vectors.into_iter();
            for job in jobs {
                let mine: Vec<Vec<f32>> = vectors.by_ref().take(job.texts.len()).collect();
                // The asker may have gone away; that is not an error here.
                let _ = job.reply.send(Ok(mine));
            }
        }
        // Something in the batch failed: answer each job on its own, so one bad text does
        // not fail the others.
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let refs: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                let _ = job.reply.send(encoder.embed(&refs));
            }
        }
        Err(e) => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
    }
}

/// Encodes the next batch of a large job. Returns the job unless it is finished (or failed).
fn run_chunk(encoder: &dyn Encoder, mut job: Job, batch: usize) -> Option<Job> {
    let end = (job.done + batch).min(job.order.len());
    let positions = &job.order[job.done..end];
    let refs: Vec<&str> = positions.iter().map(|&i| job.texts[i].as_str()).collect();
    match encoder.embed(&refs) {
        Ok(vectors) => {
            for (&i, v) in positions.iter().zip(vectors) {
                job.out[i] = v;
            }
            job.done = end;
            if job.done == job.order.len() {
                let _ = job.reply.send(Ok(job.out));
                None
            } else {
                Some(job)
            }
        }
        Err(e) => {
            let _ = job.reply.send(Err(e));
            None
        }
    }
}

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
                let batch = encoder.batch_size().max(1);
                let mut large: VecDeque<Job> = VecDeque::new();
                let mut small: Vec<Job> = Vec::new();
                let mut open = true;
                while open || !large.is_empty() || !small.is_empty() {
                    if large.is_empty() && small.is_empty() {
                        match rx.recv() {
                            Ok(request) => enqueue(request, &mut small, &mut large),
                            Err(_) => break,
                        }
                    }
                    loop {
                        match rx.try_recv() {
                            Ok(request) => enqueue(request, &mut small, &mut large),
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => {
                                open = false;
                                break;
                            }
                        }
                    }
                    if !small.is_empty() {
                        // As many waiting queries as fit in one batch, oldest first.
                        let mut texts = 0;
                        let take = small
                            .iter()
                            .take_while(|j| {
                                texts += j.texts.len();
                                texts <= batch
                            })
                            .count()
                            .max(1);
                        let jobs: Vec<Job> = small.drain(..take).collect();
                        run_small(encoder.as_ref(), jobs);
                    } else if let Some(job) = large.pop_front() {
                        if let Some(job) = run_chunk(encoder.as_ref(), job, batch) {
                            large.push_front(job);
                        }
                    }
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

    /// Records every batch it is asked to encode; slow, so requests pile up meanwhile.
    struct Recording {
        batches: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
        delay: std::time::Duration,
    }

    impl Encoder for Recording {
        fn model_key(&self) -> &str {
            "recording"
        }
        fn dim(&self) -> usize {
            1
        }
        fn batch_size(&self) -> usize {
            4
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
            self.batches
                .lock()
                .unwrap()
                .push(texts.iter().map(|t| t.to_string()).collect());
            std::thread::sleep(self.delay);
            if texts.iter().any(|t| t.contains("bad")) {
                return Err(Error::Tokenizer("a bad text".into()));
            }
            Ok(texts.iter().map(|t| vec![t.len() as f32]).collect())
        }
    }

    fn recording(
        delay_ms: u64,
    ) -> (
        EncoderHandle,
        std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
    ) {
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handle = EncoderService::spawn(Box::new(Recording {
            batches: batches.clone(),
            delay: std::time::Duration::from_millis(delay_ms),
        }));
        (handle, batches)
    }

    #[test]
    fn waiting_queries_are_encoded_together_and_each_gets_its_own_answer() {
        let (handle, batches) = recording(100);
        // Occupy the encoder, then send 6 queries while it is busy.
        let first = {
            let h = handle.clone();
            thread::spawn(move || h.embed(&["first"]).unwrap())
        };
        thread::sleep(std::time::Duration::from_millis(30));
        let queries: Vec<_> = (1..=6)
            .map(|i| {
                let h = handle.clone();
                thread::spawn(move || {
                    let text = "q".repeat(i);
                    assert_eq!(h.embed(&[&text]).unwrap(), vec![vec![i as f32]]);
                })
            })
            .collect();
        for q in queries {
            q.join().unwrap();
        }
        assert_eq!(first.join().unwrap(), vec![vec![5.0]]);
        let sizes: Vec<usize> = batches.lock().unwrap().iter().map(Vec::len).collect();
        // "first" alone, then the 6 waiting queries in batches of at most 4 (the batch size).
        assert_eq!(sizes[0], 1);
        assert_eq!(sizes[1..].iter().sum::<usize>(), 6);
        assert!(sizes.len() <= 4, "queries were batched: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");
    }

    #[test]
    fn queries_do_not_wait_for_a_large_request_to_finish() {
        let (handle, batches) = recording(30);
        let papers: Vec<String> = (1..=20).map(|i| "p".repeat(i)).collect();
        let big = {
            let h = handle.clone();
            let papers = papers.clone();
            thread::spawn(move || h.embed_owned(papers).unwrap())
        };
        thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(handle.embed(&["query"]).unwrap(), vec![vec![5.0]]);
        let vectors = big.join().unwrap();
        // In the caller's order, although encoded longest first.
        let want: Vec<Vec<f32>> = (1..=20).map(|i| vec![i as f32]).collect();
        assert_eq!(vectors, want);
        let batches = batches.lock().unwrap();
        let at = batches.iter().position(|b| b == &["query"]).unwrap();
        assert!(
            at < batches.len() - 1,
            "the query ran between the paper batches: {batches:?}"
        );
        assert_eq!(
            batches[0],
            [
                "p".repeat(20),
                "p".repeat(19),
                "p".repeat(18),
                "p".repeat(17)
            ]
        );
    }

    #[test]
    fn one_failing_text_fails_only_its_own_request() {
        let (handle, _) = recording(50);
        let blocker = {
            let h = handle.clone();
            thread::spawn(move || h.embed(&["x"]).unwrap())
        };
        thread::sleep(std::time::Duration::from_millis(10));
        let good = {
            let h = handle.clone();
            thread::spawn(move || h.embed(&["good"]))
        };
        let bad = {
            let h = handle.clone();
            thread::spawn(move || h.embed(&["bad"]))
        };
        blocker.join().unwrap();
        assert_eq!(good.join().unwrap().unwrap(), vec![vec![4.0]]);
        assert!(bad.join().unwrap().is_err());
        // A large request with a bad text fails as a whole, and the service goes on.
        let texts: Vec<String> = vec![
            "a".into(),
            "b".into(),
            "c".into(),
            "d".into(),
            "e".into(),
            "bad".into(),
        ];
        assert!(handle.embed_owned(texts).is_err());
        assert_eq!(handle.embed(&["ok"]).unwrap(), vec![vec![2.0]]);
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
