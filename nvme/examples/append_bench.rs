//! Sustained appends to a block log, for `scripts/bench-nvme.sh`.
//!
//! ```text
//! cargo run --release -p nvme --example append_bench -- PATH DEVICE_MIB BATCH_BYTES \
//!     QUEUE_DEPTH BUFFER_KIB dsync|fdatasync|buffered SECONDS [sqpoll]
//! ```
//!
//! Opens (creating and preallocating, when it does not exist) the file or block device at
//! PATH, then appends batches of BATCH_BYTES (stream bytes; a block carries its size less a 32-byte
//! header) for SECONDS, each append durable before the next
//! starts (the AOF writer's pattern: one batch in flight, its writes at QUEUE_DEPTH). When the
//! log is full it is reset, and the reset counts in the time. At the end it is reset again, so
//! the next run starts from an empty log.
//!
//! `sqpoll` submits through a kernel polling thread (io_uring SQPOLL, 100 ms idle) instead of
//! a system call per submission.
//!
//! `buffered` is the comparison with the AOF as it writes without a device: the same batches
//! written with `pwrite` through the page cache to a preallocated ordinary file, each followed
//! by `fdatasync` (the AOF's `--aof-io sync` path), wrapping at DEVICE_MIB. Prints one CSV line:
//! `appends,bytes,seconds,mb_per_s,p50_us,p99_us,max_us`, latency being one append's, from
//! call to durable.

use nvme::{BlockLog, Device, DeviceOptions, Durability};
use std::time::{Duration, Instant};

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if !(7..=8).contains(&arguments.len()) || arguments.get(7).is_some_and(|a| a != "sqpoll") {
        eprintln!(
            "usage: append_bench PATH DEVICE_MIB BATCH_BYTES QUEUE_DEPTH BUFFER_KIB dsync|fdatasync|buffered SECONDS [sqpoll]"
        );
        std::process::exit(2);
    }
    let number = |index: usize| -> u64 {
        arguments[index].parse().unwrap_or_else(|_| {
            eprintln!("not a number: {}", arguments[index]);
            std::process::exit(2)
        })
    };
    let path = std::path::PathBuf::from(&arguments[0]);
    let device_bytes = number(1) << 20;
    let batch_bytes = number(2) as usize;
    let seconds = Duration::from_secs(number(6));
    let batch: Vec<u8> = (0..batch_bytes)
        .map(|index| (index * 31 % 251) as u8)
        .collect();
    if arguments[5] == "buffered" {
        buffered(&path, device_bytes, &batch, seconds);
        return;
    }
    let durability = match arguments[5].as_str() {
        "dsync" => Durability::Dsync,
        "fdatasync" => Durability::Fdatasync,
        other => {
            eprintln!("durability must be dsync or fdatasync, not {other}");
            std::process::exit(2)
        }
    };
    let options = DeviceOptions {
        queue_depth: number(3) as usize,
        buffer_bytes: (number(4) << 10) as usize,
        sqpoll_idle_ms: (arguments.len() == 8).then_some(100),
        durability,
        file_bytes: Some(device_bytes),
    };
    let device = Device::open(&path, options).unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1)
    });
    let region = nvme::Region::whole(&device);
    let (mut log, _) = BlockLog::open(nvme::shared(device), region).unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(1)
    });
    let mut latencies_us = Vec::new();
    let mut bytes = 0u64;
    let started = Instant::now();
    while started.elapsed() < seconds {
        let begin = Instant::now();
        if log.len() + batch_bytes as u64 > log.capacity() {
            log.reset().expect("reset");
        }
        log.append(&batch, true).expect("append");
        latencies_us.push(begin.elapsed().as_secs_f64() * 1e6);
        bytes += batch_bytes as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Leave an empty log of a new generation, so the next run's recovery reads nothing.
    log.reset().expect("reset");
    report(latencies_us, bytes, elapsed);
}

fn buffered(path: &std::path::Path, device_bytes: u64, batch: &[u8], seconds: Duration) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open");
    if file.metadata().expect("metadata").len() < device_bytes {
        // Written, not sparse, as the device file is: zeros in 1 MiB steps, then a sync.
        let zeros = vec![0u8; 1 << 20];
        let mut offset = 0;
        while offset < device_bytes {
            file.write_all_at(&zeros, offset).expect("preallocate");
            offset += zeros.len() as u64;
        }
        file.sync_all().expect("sync");
    }
    let mut latencies_us = Vec::new();
    let mut bytes = 0u64;
    let mut offset = 0u64;
    let started = Instant::now();
    while started.elapsed() < seconds {
        let begin = Instant::now();
        if offset + batch.len() as u64 > device_bytes {
            offset = 0;
        }
        file.write_all_at(batch, offset).expect("write");
        file.sync_data().expect("fdatasync");
        offset += batch.len() as u64;
        latencies_us.push(begin.elapsed().as_secs_f64() * 1e6);
        bytes += batch.len() as u64;
    }
    report(latencies_us, bytes, started.elapsed().as_secs_f64());
}

fn report(mut latencies_us: Vec<f64>, bytes: u64, elapsed: f64) {
    latencies_us.sort_by(f64::total_cmp);
    let at = |quantile: f64| {
        latencies_us[((latencies_us.len() as f64 * quantile) as usize).min(latencies_us.len() - 1)]
    };
    println!(
        "{},{},{:.3},{:.1},{:.0},{:.0},{:.0}",
        latencies_us.len(),
        bytes,
        elapsed,
        bytes as f64 / 1e6 / elapsed,
        at(0.5),
        at(0.99),
        latencies_us.last().copied().unwrap_or(0.0)
    );
}
