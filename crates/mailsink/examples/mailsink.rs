//! `cargo run --release -p paperscout-mailsink --example mailsink -- [ADDR]`: a loopback SMTP server that counts and drops what it receives, printing
//! the count every second while it changes. For the digest benchmark (bench/digest.sh).

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2525".into());
    let sink = paperscout_mailsink::MailSink::start_on(&addr, true);
    eprintln!("mailsink listening on {}", sink.url());
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let n = sink.count();
        if n != last {
            println!("{n} messages, {} bytes", sink.bytes());
            last = n;
        }
    }
}
