//! Keyspace tests, run over every back-end, on a manual clock.

use super::*;
use engine::dashmap::DashMapEngine;
use engine::flurry::FlurryEngine;
use engine::sharded::Sharded;
use engine::LockFree;
use std::time::Duration;

/// Runs `$body` with `$ks` bound to a fresh keyspace over each back-end, and `$clock` to its
/// manual clock (starting at 1,000,000 ms).
macro_rules! for_each_backend {
    (|$ks:ident, $clock:ident| $body:block) => {{
        fn run<E: Engine<Value = Value>>() {
            let $clock = Arc::new(ManualClock::new(1_000_000));
            let $ks = Keyspace::with_clock(E::new(), Arc::clone(&$clock));
            let _ = &$clock;
            $body
        }
        run::<Sharded<Value>>();
        run::<DashMapEngine<Value>>();
        run::<FlurryEngine<Value>>();
        run::<LockFree<Value>>();
    }};
}

fn s(bytes: &str) -> Str {
    Str::copy_from(bytes.as_bytes())
}

/// `SET` options that make the key expire at `at_ms`.
fn expiring_at(at_ms: u64) -> SetOptions {
    SetOptions {
        expire: ExpireOption::At(at_ms),
        ..SetOptions::default()
    }
}

#[test]
fn set_get_and_options() {
    for_each_backend!(|ks, clock| {
        assert_eq!(ks.shared().get(b"k").unwrap(), None);
        ks.shared()
            .set(b"k", s("v1"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().get(b"k").unwrap(), Some(s("v1")));
        // NX on an existing key: not written.
        let nx = SetOptions {
            condition: SetCondition::IfAbsent,
            ..SetOptions::default()
        };
        assert!(!ks.shared().set(b"k", s("v2"), nx).unwrap().written);
        assert!(ks.shared().set(b"other", s("x"), nx).unwrap().written);
        // XX on a missing key: not written.
        let xx = SetOptions {
            condition: SetCondition::IfPresent,
            ..SetOptions::default()
        };
        assert!(!ks.shared().set(b"missing", s("x"), xx).unwrap().written);
        assert!(!ks.shared().contains(b"missing"));
        // GET returns the old value.
        let get = SetOptions {
            get_old: true,
            ..SetOptions::default()
        };
        let outcome = ks.shared().set(b"k", s("v3"), get).unwrap();
        assert_eq!(outcome.old, Some(s("v1")));
        assert!(outcome.written);
        // Expiry: set with PX 100, gone after 100 ms.
        let px = SetOptions {
            expire: ExpireOption::At(clock.now_ms() + 100),
            ..SetOptions::default()
        };
        ks.shared().set(b"t", s("x"), px).unwrap();
        assert_eq!(ks.shared().ttl(b"t"), Ttl::ExpiresAt(1_000_100));
        // KEEPTTL keeps it.
        let keep = SetOptions {
            expire: ExpireOption::Keep,
            ..SetOptions::default()
        };
        ks.shared().set(b"t", s("y"), keep).unwrap();
        assert_eq!(ks.shared().ttl(b"t"), Ttl::ExpiresAt(1_000_100));
        clock.advance(99);
        assert_eq!(ks.shared().get(b"t").unwrap(), Some(s("y")));
        clock.advance(1);
        assert_eq!(ks.shared().get(b"t").unwrap(), None);
        assert_eq!(ks.shared().ttl(b"t"), Ttl::Missing);
        // A plain SET clears the expiry.
        ks.shared().set(b"u", s("x"), px).unwrap();
        ks.shared()
            .set(b"u", s("x"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().ttl(b"u"), Ttl::Persistent);
    });
}

#[test]
fn wrong_type_is_reported_and_changes_nothing() {
    for_each_backend!(|ks, _clock| {
        ks.shared().push(b"list", End::Right, &[b"a"]).unwrap();
        assert_eq!(ks.shared().get(b"list"), Err(Error::WrongType));
        assert_eq!(ks.shared().incr_by(b"list", 1), Err(Error::WrongType));
        assert_eq!(ks.shared().append(b"list", b"x"), Err(Error::WrongType));
        let get = SetOptions {
            get_old: true,
            ..SetOptions::default()
        };
        assert_eq!(ks.shared().set(b"list", s("x"), get), Err(Error::WrongType));
        assert_eq!(ks.shared().llen(b"list").unwrap(), 1);
        ks.shared()
            .set(b"str", s("x"), SetOptions::default())
            .unwrap();
        assert_eq!(
            ks.shared().push(b"str", End::Left, &[b"a"]),
            Err(Error::WrongType)
        );
        assert_eq!(ks.shared().llen(b"str"), Err(Error::WrongType));
        // A plain SET replaces a list.
        ks.shared()
            .set(b"list", s("now a string"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().type_of(b"list"), Some("string"));
    });
}

#[test]
fn counters() {
    for_each_backend!(|ks, _clock| {
        assert_eq!(ks.shared().incr_by(b"n", 1), Ok(1));
        assert_eq!(ks.shared().incr_by(b"n", -11), Ok(-10));
        assert_eq!(ks.shared().get(b"n").unwrap(), Some(s("-10")));
        ks.shared()
            .set(b"max", s(&i64::MAX.to_string()), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().incr_by(b"max", 1), Err(Error::Overflow));
        ks.shared()
            .set(b"text", s("12a"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().incr_by(b"text", 1), Err(Error::NotInteger));
        ks.shared()
            .set(b"spaces", s(" 1"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.shared().incr_by(b"spaces", 1), Err(Error::NotInteger));
        // Redis adds in 80-bit long double and prints 17 digits: 10.5 + 0.1 is 10.6 and
        // 0.1 + 0.2 is 0.3 (f64 would say 0.30000000000000004).
        assert_eq!(ks.shared().incr_by_float_text(b"f", b"10.5"), Ok(s("10.5")));
        assert_eq!(ks.shared().incr_by_float_text(b"f", b"0.1"), Ok(s("10.6")));
        assert_eq!(ks.shared().incr_by_float_text(b"f", b"-10.6"), Ok(s("0")));
        assert_eq!(ks.shared().incr_by_float_text(b"g", b"0.1"), Ok(s("0.1")));
        assert_eq!(ks.shared().incr_by_float_text(b"g", b"0.2"), Ok(s("0.3")));
        assert_eq!(
            ks.shared().incr_by_float_text(b"g", b"abc"),
            Err(Error::NotFloat)
        );
        ks.shared()
            .set(b"big", s("1e4932"), SetOptions::default())
            .unwrap();
        assert_eq!(
            ks.shared().incr_by_float_text(b"big", b"1e4932"),
            Err(Error::Overflow)
        );
    });
}

#[test]
fn ranges_and_appends() {
    for_each_backend!(|ks, _clock| {
        assert_eq!(ks.shared().append(b"s", b"Hello"), Ok(5));
        assert_eq!(ks.shared().append(b"s", b" World"), Ok(11));
        assert_eq!(ks.shared().getrange(b"s", 0, 4).unwrap(), b"Hello");
        assert_eq!(ks.shared().getrange(b"s", -5, -1).unwrap(), b"World");
        assert_eq!(ks.shared().getrange(b"s", 5, 2).unwrap(), b"");
        assert_eq!(ks.shared().getrange(b"s", 0, 1000).unwrap(), b"Hello World");
        assert_eq!(ks.shared().setrange(b"s", 6, b"Redis"), Ok(11));
        assert_eq!(ks.shared().get(b"s").unwrap(), Some(s("Hello Redis")));
        assert_eq!(ks.shared().setrange(b"pad", 3, b"x"), Ok(4));
        assert_eq!(
            ks.shared().get(b"pad").unwrap(),
            Some(Str::copy_from(b"\0\0\0x"))
        );
        assert_eq!(ks.shared().setrange(b"none", 3, b""), Ok(0));
        assert!(!ks.shared().contains(b"none"));
        assert_eq!(ks.shared().strlen(b"s"), Ok(11));
    });
}

#[test]
fn multi_key_strings() {
    for_each_backend!(|ks, _clock| {
        ks.exclusive().mset(&[(b"a", b"1"), (b"b", b"2")]);
        let mut seen = Vec::new();
        let keys: [&[u8]; 3] = [b"a", b"nope", b"b"];
        ks.shared()
            .lock_keys(keys, Access::Read)
            .mget_with(&keys, |value| {
                seen.push(value.map(|v| v.as_bytes().to_vec()))
            });
        assert_eq!(seen, vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]);
        assert!(!ks.exclusive().msetnx(&[(b"a", b"x"), (b"c", b"3")]));
        assert!(!ks.shared().contains(b"c"));
        assert!(ks.exclusive().msetnx(&[(b"c", b"3"), (b"d", b"4")]));
        assert_eq!(ks.exclusive().del(&[b"a", b"b", b"zz"]), 2);
        let keys: [&[u8]; 3] = [b"c", b"c", b"a"];
        assert_eq!(ks.shared().lock_keys(keys, Access::Read).exists(&keys), 2);
        // Under the writer stripes of their keys, MSET and DEL run on the shared guard.
        let shared = ks.shared();
        let keys: [&[u8]; 2] = [b"e", b"f"];
        shared
            .lock_keys(keys, Access::Write)
            .mset(&[(b"e", b"5"), (b"f", b"6")]);
        assert_eq!(shared.lock_keys(keys, Access::Write).del(&keys), 2);
        assert_eq!(shared.lock_keys(keys, Access::Read).exists(&keys), 0);
    });
}

#[test]
#[should_panic(expected = "needs its keys' writer stripes")]
fn an_mset_of_several_keys_under_the_shared_guard_alone_is_refused() {
    let ks: Keyspace<LockFree<Value>> = Keyspace::new(LockFree::new());
    ks.shared().mset(&[(b"a", b"1"), (b"b", b"2")]);
}

#[test]
#[should_panic(expected = "needs its keys' writer stripes")]
fn a_del_of_several_keys_under_reader_stripes_is_refused() {
    let ks: Keyspace<LockFree<Value>> = Keyspace::new(LockFree::new());
    let keys: [&[u8]; 2] = [b"a", b"b"];
    ks.shared().lock_keys(keys, Access::Read).del(&keys);
}

#[test]
#[should_panic(expected = "needs its keys' stripes")]
fn an_mget_of_several_keys_without_stripes_is_refused() {
    let ks: Keyspace<LockFree<Value>> = Keyspace::new(LockFree::new());
    ks.shared().mget_with(&[b"a", b"b"], |_| ());
}

/// MSETs of three keys under their writer stripes, racing readers: an MGET under reader
/// stripes sees all three keys equal, and a client that reads the keys one by one, in the
/// order the MSET writes them, never reads a later key older than an earlier one (it would
/// have seen the MSET half done). The second check fails when `Stripes::settle` is skipped.
#[test]
fn an_mset_under_stripes_is_never_seen_half_done() {
    let ks: Keyspace<LockFree<Value>> = Keyspace::new(LockFree::new());
    let keys: [&[u8]; 3] = [b"x:a", b"x:b", b"x:c"];
    let rounds = if cfg!(miri) { 20 } else { 20_000 };
    let done = std::sync::atomic::AtomicBool::new(false);
    let number = |value: Option<Str>| -> u64 {
        value.map_or(0, |v| {
            std::str::from_utf8(v.as_bytes()).unwrap().parse().unwrap()
        })
    };
    std::thread::scope(|scope| {
        let (ks, done) = (&ks, &done);
        scope.spawn(move || {
            for round in 1..=rounds {
                let value = round.to_string();
                let pairs: Vec<(&[u8], &[u8])> =
                    keys.iter().map(|&key| (key, value.as_bytes())).collect();
                ks.shared().lock_keys(keys, Access::Write).mset(&pairs);
            }
            done.store(true, Ordering::SeqCst);
        });
        scope.spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let mut seen = Vec::new();
                ks.shared()
                    .lock_keys(keys, Access::Read)
                    .mget_with(&keys, |value| seen.push(number(value.cloned())));
                assert!(seen.windows(2).all(|w| w[0] == w[1]), "MGET saw {seen:?}");
            }
        });
        scope.spawn(move || {
            // Optimistic MGETs: a read that still_valid accepts saw all three keys equal.
            let mut kept = 0u64;
            while !done.load(Ordering::SeqCst) {
                let guard = ks.shared();
                let Some(read) = guard.read_optimistically() else {
                    continue;
                };
                let mut seen = Vec::new();
                read.db()
                    .mget_with(&keys, |value| seen.push(number(value.cloned())));
                if read.still_valid() {
                    kept += 1;
                    assert!(
                        seen.windows(2).all(|w| w[0] == w[1]),
                        "optimistic MGET saw {seen:?}"
                    );
                }
            }
            let _ = kept;
        });
        scope.spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let seen: Vec<u64> = keys
                    .iter()
                    .map(|key| number(ks.shared().get(key).unwrap()))
                    .collect();
                assert!(
                    seen.windows(2).all(|w| w[0] <= w[1]),
                    "one-by-one GETs saw {seen:?}"
                );
            }
        });
    });
}

#[test]
fn lists() {
    for_each_backend!(|ks, _clock| {
        assert_eq!(
            ks.shared().push(b"l", End::Right, &[b"a", b"b", b"c"]),
            Ok(3)
        );
        assert_eq!(ks.shared().push(b"l", End::Left, &[b"z", b"y"]), Ok(5));
        let range = |ks: &Keyspace<E>, start, stop| {
            let mut items = Vec::new();
            ks.shared()
                .lrange_with(b"l", start, stop, |_, item| {
                    if let Some(item) = item {
                        items.push(String::from_utf8(item.to_vec()).unwrap());
                    }
                })
                .unwrap();
            items.join(",")
        };
        assert_eq!(range(&ks, 0, -1), "y,z,a,b,c");
        assert_eq!(
            ks.shared().lindex(b"l", -1).unwrap().as_deref(),
            Some(&b"c"[..])
        );
        assert_eq!(ks.shared().lset(b"l", 1, b"Z"), Ok(()));
        assert_eq!(
            ks.shared().lset(b"l", 10, b"Z"),
            Err(Error::IndexOutOfRange)
        );
        assert_eq!(ks.shared().lset(b"none", 0, b"Z"), Err(Error::NoSuchKey));
        assert_eq!(
            ks.shared().linsert(b"l", ListPosition::After, b"a", b"a2"),
            Ok(6)
        );
        assert_eq!(
            ks.shared()
                .linsert(b"l", ListPosition::Before, b"nope", b"x"),
            Ok(-1)
        );
        assert_eq!(range(&ks, 0, -1), "y,Z,a,a2,b,c");
        ks.shared().push(b"l", End::Right, &[b"a", b"a"]).unwrap();
        assert_eq!(ks.shared().lrem(b"l", -1, b"a"), Ok(1));
        assert_eq!(range(&ks, 0, -1), "y,Z,a,a2,b,c,a");
        let pos = PosOptions {
            rank: 1,
            count: Some(0),
            max_len: 0,
        };
        assert_eq!(ks.shared().lpos(b"l", b"a", pos), Ok(vec![2, 6]));
        let pos_last = PosOptions {
            rank: -1,
            count: None,
            max_len: 0,
        };
        assert_eq!(ks.shared().lpos(b"l", b"a", pos_last), Ok(vec![6]));
        assert_eq!(ks.shared().lrem(b"l", 0, b"a"), Ok(2));
        ks.shared().ltrim(b"l", 1, -2).unwrap();
        assert_eq!(range(&ks, 0, -1), "Z,a2,b");
        let popped = ks.shared().pop(b"l", End::Right, 2).unwrap().unwrap();
        assert_eq!(popped, vec![Box::from(&b"b"[..]), Box::from(&b"a2"[..])]);
        // Popping the last element removes the key.
        assert_eq!(
            ks.shared().pop(b"l", End::Left, 5).unwrap().unwrap().len(),
            1
        );
        assert_eq!(ks.shared().type_of(b"l"), None);
        assert_eq!(ks.shared().pop(b"l", End::Left, 1).unwrap(), None);
        assert_eq!(ks.shared().push_existing(b"l", End::Left, &[b"x"]), Ok(0));
        assert!(!ks.shared().contains(b"l"));
        // LTRIM to nothing removes the key.
        ks.shared().push(b"t", End::Right, &[b"1", b"2"]).unwrap();
        ks.shared().ltrim(b"t", 5, 10).unwrap();
        assert!(!ks.shared().contains(b"t"));
        // LMOVE, including onto itself.
        ks.shared()
            .push(b"src", End::Right, &[b"1", b"2", b"3"])
            .unwrap();
        assert_eq!(
            ks.exclusive()
                .lmove(b"src", b"dst", End::Left, End::Right)
                .unwrap()
                .as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(
            ks.exclusive()
                .lmove(b"src", b"src", End::Right, End::Left)
                .unwrap()
                .as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(ks.shared().llen(b"src"), Ok(2));
        ks.shared()
            .set(b"str", s("x"), SetOptions::default())
            .unwrap();
        assert_eq!(
            ks.exclusive().lmove(b"src", b"str", End::Left, End::Left),
            Err(Error::WrongType)
        );
        assert_eq!(ks.shared().llen(b"src"), Ok(2));
        assert_eq!(
            ks.exclusive()
                .lmove(b"missing", b"str", End::Left, End::Left),
            Ok(None)
        );
    });
}

#[test]
fn list_writes_draw_versions_in_order() {
    for_each_backend!(|ks, _clock| {
        ks.shared().push(b"l", End::Right, &[b"a"]).unwrap();
        let v1 = ks.engine().get(b"l", |entry| entry.version).unwrap();
        ks.shared().push(b"l", End::Right, &[b"b"]).unwrap();
        let v2 = ks.engine().get(b"l", |entry| entry.version).unwrap();
        assert!(v2 > v1, "a push draws a new version");
    });
}

#[test]
fn concurrent_pushes_and_overwrites_lose_nothing() {
    for_each_backend!(|ks, _clock| {
        let ks = Arc::new(ks);
        let threads = 4;
        let pushes = if cfg!(miri) { 20 } else { 2000 };
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let ks = &ks;
                scope.spawn(move || {
                    for i in 0..pushes {
                        ks.shared()
                            .push(b"l", End::Right, &[format!("{i}").as_bytes()])
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(ks.shared().llen(b"l"), Ok(threads * pushes));
        // Concurrent pops: every pushed element is popped exactly once.
        let total = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (ks, total) = (&ks, &total);
                scope.spawn(move || {
                    while let Some(items) = ks.shared().pop(b"l", End::Left, 7).unwrap() {
                        total.fetch_add(items.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(total.into_inner(), threads * pushes);
        assert!(!ks.shared().contains(b"l"));
    });
}

#[test]
fn keys_expire_persist_rename_copy() {
    for_each_backend!(|ks, clock| {
        let now = clock.now_ms();
        ks.shared()
            .set(b"k", s("v"), SetOptions::default())
            .unwrap();
        assert!(!ks
            .shared()
            .expire_at(b"k", now + 5000, ExpireCondition::IfSome));
        assert!(!ks
            .shared()
            .expire_at(b"k", now + 5000, ExpireCondition::IfGreater));
        assert!(ks
            .shared()
            .expire_at(b"k", now + 5000, ExpireCondition::IfLess));
        assert!(!ks
            .shared()
            .expire_at(b"k", now + 9000, ExpireCondition::IfNone));
        assert!(ks
            .shared()
            .expire_at(b"k", now + 9000, ExpireCondition::IfGreater));
        assert_eq!(ks.shared().ttl(b"k"), Ttl::ExpiresAt(now + 9000));
        assert!(ks.shared().persist(b"k"));
        assert!(!ks.shared().persist(b"k"));
        assert_eq!(ks.shared().ttl(b"k"), Ttl::Persistent);
        // An expiry in the past deletes.
        assert!(ks.shared().expire_at(b"k", now, ExpireCondition::Always));
        assert!(!ks.shared().contains(b"k"));
        assert!(!ks
            .shared()
            .expire_at(b"k", now + 1, ExpireCondition::Always));
        // Rename carries the TTL.
        ks.shared()
            .set(b"a", s("1"), SetOptions::default())
            .unwrap();
        ks.shared()
            .expire_at(b"a", now + 100, ExpireCondition::Always);
        assert_eq!(ks.exclusive().rename(b"a", b"b", false), Ok(true));
        assert_eq!(ks.shared().ttl(b"b"), Ttl::ExpiresAt(now + 100));
        assert_eq!(
            ks.exclusive().rename(b"a", b"b", false),
            Err(Error::NoSuchKey)
        );
        ks.shared()
            .set(b"c", s("3"), SetOptions::default())
            .unwrap();
        assert_eq!(ks.exclusive().rename(b"b", b"c", true), Ok(false));
        assert_eq!(ks.exclusive().rename(b"b", b"b", false), Ok(true));
        // Copy of a list is deep.
        ks.shared().push(b"l", End::Right, &[b"x"]).unwrap();
        assert!(ks.exclusive().copy(b"l", b"l2", false));
        assert!(!ks.exclusive().copy(b"l", b"l2", false));
        ks.shared().push(b"l2", End::Right, &[b"y"]).unwrap();
        assert_eq!(ks.shared().llen(b"l"), Ok(1));
        assert_eq!(ks.shared().llen(b"l2"), Ok(2));
        assert!(ks.exclusive().copy(b"c", b"l2", true));
        assert_eq!(ks.shared().type_of(b"l2"), Some("string"));
    });
}

#[test]
fn scan_keys_and_random_key() {
    for_each_backend!(|ks, clock| {
        assert_eq!(ks.shared().random_key(7), None);
        for i in 0..300 {
            ks.shared()
                .set(
                    format!("user:{i}").as_bytes(),
                    s("v"),
                    SetOptions::default(),
                )
                .unwrap();
        }
        ks.shared().push(b"list:1", End::Left, &[b"x"]).unwrap();
        let expiring = SetOptions {
            expire: ExpireOption::At(clock.now_ms() + 10),
            ..SetOptions::default()
        };
        ks.shared().set(b"user:gone", s("v"), expiring).unwrap();
        clock.advance(10);
        assert_eq!(ks.shared().keys(b"user:*").len(), 300);
        assert_eq!(ks.shared().keys(b"list:?"), vec![b"list:1".to_vec()]);
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let filter = ScanFilter {
            pattern: None,
            type_name: Some(b"string"),
        };
        loop {
            cursor = ks.shared().scan(cursor, 10, filter, |key| {
                seen.insert(key.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        for seed in 0..20 {
            let key = ks.shared().random_key(seed).unwrap();
            assert!(ks.shared().contains(&key));
        }
    });
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    for_each_backend!(|ks, clock| {
        let expiring = SetOptions {
            expire: ExpireOption::At(clock.now_ms() + 50),
            ..SetOptions::default()
        };
        for i in 0..1000 {
            ks.shared()
                .set(format!("e{i}").as_bytes(), s("v"), expiring)
                .unwrap();
        }
        for i in 0..100 {
            ks.shared()
                .set(format!("p{i}").as_bytes(), s("v"), SetOptions::default())
                .unwrap();
        }
        let mut cursor = 0;
        // Nothing has expired yet: a cycle removes nothing.
        assert_eq!(
            ks.active_expire_cycle(&mut cursor, Duration::from_secs(10)),
            0
        );
        clock.advance(50);
        let mut removed = 0;
        // The cycle keeps going while batches are stale, so with a generous budget a few
        // cycles remove everything.
        for _ in 0..100 {
            removed += ks.active_expire_cycle(&mut cursor, Duration::from_secs(10));
            if ks.len() == 100 {
                break;
            }
        }
        assert_eq!(removed, 1000);
        assert_eq!(ks.len(), 100);
        assert_eq!(ks.stats().expired.sum(), 1000);
        // A delayed flush happens on the first cycle at or after its time.
        ks.flush_at(clock.now_ms() + 1000);
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.len(), 100);
        clock.advance(1000);
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.len(), 0);
    });
}

#[test]
fn memcached_operations() {
    for_each_backend!(|ks, clock| {
        let now = clock.now_ms();
        assert_eq!(
            ks.shared()
                .store(StoreMode::Replace, b"k", s("v"), 0, 0, None),
            StoreOutcome::NotStored
        );
        let StoreOutcome::Stored(cas) =
            ks.shared().store(StoreMode::Add, b"k", s("v"), 42, 0, None)
        else {
            panic!("add to a missing key stores");
        };
        assert_eq!(
            ks.shared().store(StoreMode::Add, b"k", s("v"), 0, 0, None),
            StoreOutcome::NotStored
        );
        let item = ks
            .shared()
            .get_item_with(b"k", |value, meta, version| {
                (value.clone(), meta.flags, version)
            })
            .unwrap();
        assert_eq!(item, (s("v"), 42, cas));
        assert_eq!(
            ks.shared()
                .store(StoreMode::Set, b"k", s("x"), 0, 0, Some(cas + 1000)),
            StoreOutcome::Exists
        );
        assert_eq!(
            ks.shared()
                .store(StoreMode::Set, b"nope", s("x"), 0, 0, Some(cas)),
            StoreOutcome::NotFound
        );
        assert!(matches!(
            ks.shared()
                .store(StoreMode::Append, b"k", s("++"), 7, now + 1, None),
            StoreOutcome::Stored(_)
        ));
        assert!(matches!(
            ks.shared()
                .store(StoreMode::Prepend, b"k", s("--"), 7, now + 1, None),
            StoreOutcome::Stored(_)
        ));
        // Append and prepend keep the flags and expiry of the item.
        let (value, flags) = ks
            .shared()
            .get_item_with(b"k", |value, meta, _| (value.clone(), meta.flags))
            .unwrap();
        assert_eq!((value, flags), (s("--v++"), 42));
        assert_eq!(ks.shared().ttl(b"k"), Ttl::Persistent);
        // Counters.
        ks.shared().store(StoreMode::Set, b"n", s("10"), 0, 0, None);
        assert!(matches!(
            ks.shared().arith(b"n", false, 11, None, None),
            ArithOutcome::Value(0, _)
        ));
        assert!(matches!(
            ks.shared().arith(b"n", true, u64::MAX, None, None),
            ArithOutcome::Value(u64::MAX, _)
        ));
        assert!(matches!(
            ks.shared().arith(b"n", true, 2, None, None),
            ArithOutcome::Value(1, _)
        ));
        assert_eq!(
            ks.shared().arith(b"k", true, 1, None, None),
            ArithOutcome::NonNumeric
        );
        assert_eq!(
            ks.shared().arith(b"zz", true, 1, None, None),
            ArithOutcome::NotFound
        );
        assert!(matches!(
            ks.shared().arith(b"zz", true, 1, Some((5, 0)), None),
            ArithOutcome::Value(5, _)
        ));
        // Touch and delete.
        let touched = ks.shared().touch_item(b"k", now + 10).unwrap();
        assert_eq!(touched.value, s("--v++"));
        assert_eq!(
            ks.shared().delete_item(b"k", Some(touched.version + 1)),
            DeleteOutcome::Exists
        );
        clock.advance(10);
        assert_eq!(ks.shared().delete_item(b"k", None), DeleteOutcome::NotFound);
        // A past expiry stores and is gone at once.
        assert!(matches!(
            ks.shared()
                .store(StoreMode::Set, b"past", s("x"), 0, 1, None),
            StoreOutcome::Stored(_)
        ));
        assert!(!ks.shared().contains(b"past"));
        // Lists are misses for memcached and cannot be appended to.
        ks.shared().push(b"list", End::Left, &[b"a"]).unwrap();
        assert!(ks.shared().get_item_with(b"list", |_, _, _| ()).is_none());
        assert_eq!(
            ks.shared()
                .store(StoreMode::Append, b"list", s("x"), 0, 0, None),
            StoreOutcome::NotStored
        );
    });
}

#[test]
fn number_parsing_follows_redis() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"9223372036854775808"), None);
    assert_eq!(parse_i64(b"01"), None);
    assert_eq!(parse_i64(b"-0"), None);
    assert_eq!(parse_i64(b"+1"), None);
    assert_eq!(parse_i64(b""), None);
    assert_eq!(parse_i64(b"1 "), None);
}

/// The entries in the engine with an expiry, counted the slow way: what `expiring_len` must
/// always equal when no write is in flight.
fn expiring_by_scan<E: Engine<Value = Value>>(ks: &Keyspace<E>) -> usize {
    let mut count = 0;
    let mut cursor = 0;
    loop {
        cursor = ks.map.scan(cursor, 100, |_, entry| {
            count += usize::from(entry.meta.expire_at_ms != 0);
        });
        if cursor == 0 {
            // Scans may repeat keys when the table resized; these maps are small and the
            // counting test writes between scans only on one thread, so a repeat would show
            // as a mismatch worth looking at rather than be hidden here.
            return count;
        }
    }
}

/// One random operation from every family that can add, change, keep or drop an expiry:
/// strings with and without TTL options, expiry commands, multi-key moves, lists (whose last
/// pop removes the key), memcached stores and touches, lazy and active expiry, flushes.
fn random_operation<E: Engine<Value = Value>>(
    ks: &Keyspace<E>,
    clock: &ManualClock,
    random: &mut impl FnMut(u64) -> u64,
    sweep_cursor: &mut u64,
) {
    let key = format!("k{}", random(8)).into_bytes();
    let other = format!("k{}", random(8)).into_bytes();
    let later = clock.now_ms() + 1 + random(200);
    match random(22) {
        0 => drop(ks.shared().set(&key, s("v"), SetOptions::default())),
        1 => drop(ks.shared().set(&key, s("v"), expiring_at(later))),
        2 => drop(ks.shared().set(
            &key,
            s("w"),
            SetOptions {
                expire: ExpireOption::Keep,
                condition: SetCondition::IfPresent,
                ..SetOptions::default()
            },
        )),
        3 => drop(ks.shared().expire_at(&key, later, ExpireCondition::Always)),
        // In the past: Redis deletes the key.
        4 => drop(ks.shared().expire_at(
            &key,
            clock.now_ms().saturating_sub(1),
            ExpireCondition::Always,
        )),
        5 => drop(ks.shared().persist(&key)),
        6 => drop(ks.shared().del(&[&key])),
        7 => drop(ks.exclusive().rename(&key, &other, random(2) == 0)),
        8 => drop(ks.exclusive().copy(&key, &other, random(2) == 0)),
        9 => drop(ks.shared().push(&key, End::Left, &[b"a", b"b"])),
        10 => drop(ks.shared().pop(&key, End::Right, 1 + random(2) as usize)),
        11 => drop(ks.shared().getex(&key, Some(ExpireOption::At(later)))),
        12 => drop(ks.shared().getex(&key, Some(ExpireOption::Clear))),
        13 => drop(ks.shared().getdel(&key)),
        14 => drop(ks.shared().incr_by(&key, 1)),
        15 => drop(ks.shared().append(&key, b"x")),
        16 => drop(
            ks.shared()
                .store(StoreMode::Set, &key, s("m"), 1, later, None),
        ),
        17 => drop(
            ks.shared()
                .touch_item(&key, if random(2) == 0 { later } else { 0 }),
        ),
        18 => drop(ks.shared().get(&key)),
        19 => clock.advance(random(120)),
        20 => drop(ks.active_expire_cycle(sweep_cursor, Duration::from_secs(1))),
        _ => {
            if random(10) == 0 {
                ks.exclusive().flush();
            } else {
                drop(ks.exclusive().lmove(&key, &other, End::Left, End::Right));
            }
        }
    }
}

/// A small xorshift generator: `random(n)` is uniform enough in `0..n` for picking operations.
fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed | 1;
    move |bound| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    }
}

#[test]
fn expiring_count_follows_every_write() {
    for_each_backend!(|ks, clock| {
        let mut random = xorshift(0x5eed);
        let mut sweep_cursor = 0;
        for step in 0..4000 {
            random_operation(&ks, &clock, &mut random, &mut sweep_cursor);
            assert_eq!(
                ks.expiring_len(),
                expiring_by_scan(&ks),
                "{}: after step {step}",
                E::NAME
            );
        }
    });
}

#[test]
fn expiring_count_is_exact_after_racing_writers() {
    for_each_backend!(|ks, clock| {
        let ks = Arc::new(ks);
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let (ks, clock) = (Arc::clone(&ks), Arc::clone(&clock));
                std::thread::spawn(move || {
                    let mut random = xorshift(0xfeed + thread);
                    let mut sweep_cursor = 0;
                    for _ in 0..3000 {
                        random_operation(&ks, &clock, &mut random, &mut sweep_cursor);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(ks.expiring_len(), expiring_by_scan(&ks), "{}", E::NAME);
    });
}

#[test]
fn replay_counts_expiring_keys() {
    for_each_backend!(|ks, clock| {
        let later = Meta {
            expire_at_ms: clock.now_ms() + 1000,
            flags: 0,
        };
        let apply = |effect: Effect<'_>| ks.apply(&effect).unwrap();
        apply(Effect::PutString {
            key: b"a",
            value: b"1",
            meta: later,
        });
        apply(Effect::PutString {
            key: b"b",
            value: b"1",
            meta: later,
        });
        apply(Effect::PutList {
            key: b"l",
            meta: later,
            elements: &[b"x"],
        });
        assert_eq!(ks.expiring_len(), 3);
        apply(Effect::SetMeta {
            key: b"a",
            meta: Meta::default(),
        });
        apply(Effect::Delete { key: b"b" });
        apply(Effect::PutList {
            key: b"l",
            meta: later,
            elements: &[],
        });
        assert_eq!(ks.expiring_len(), 0);
        apply(Effect::PutString {
            key: b"c",
            value: b"1",
            meta: later,
        });
        apply(Effect::Flush);
        assert_eq!(ks.expiring_len(), 0);
        assert_eq!(ks.len(), 0);
    });
}

#[test]
fn avg_ttl_follows_the_sweeper_as_in_redis() {
    for_each_backend!(|ks, clock| {
        let mut cursor = 0;
        // No key with an expiry: no estimate, and the sweeper does not walk.
        ks.shared()
            .set(b"plain", s("v"), SetOptions::default())
            .unwrap();
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.avg_ttl_ms(), 0);
        assert_eq!(
            cursor, 0,
            "the sweeper walked a keyspace where nothing expires"
        );
        for i in 0..10 {
            let options = expiring_at(clock.now_ms() + 10_000);
            ks.shared()
                .set(format!("t{i}").as_bytes(), s("v"), options)
                .unwrap();
        }
        // The first batch sets the estimate: all ten keys in one batch of at least 64.
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.avg_ttl_ms(), 10_000);
        // Later batches move it by a fiftieth of the way, with Redis's integer arithmetic.
        clock.advance(5_000);
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.avg_ttl_ms(), (10_000 / 50) * 49 + 5_000 / 50);
        // Every expiring key gone: back to 0.
        clock.advance(5_000);
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.expiring_len(), 0);
        ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        assert_eq!(ks.avg_ttl_ms(), 0);
    });
}

#[test]
fn sweeper_batches_grow_when_few_keys_expire() {
    for_each_backend!(|ks, clock| {
        // 5,000 plain keys and 50 expiring ones: a batch sized for 20 expiring keys looks at
        // 2,000 keys, so three cycles walk the whole keyspace; fixed batches of 64 would need
        // 79 cycles (the sweeper only goes on within a cycle while batches are stale, and
        // these are not: 1% of keys expired).
        for i in 0..5000 {
            ks.shared()
                .set(format!("p{i}").as_bytes(), s("v"), SetOptions::default())
                .unwrap();
        }
        for i in 0..50 {
            let options = expiring_at(clock.now_ms() + 10);
            ks.shared()
                .set(format!("e{i}").as_bytes(), s("v"), options)
                .unwrap();
        }
        clock.advance(10);
        let mut cursor = 0;
        let mut removed = 0;
        for _ in 0..4 {
            removed += ks.active_expire_cycle(&mut cursor, Duration::from_secs(1));
        }
        assert_eq!(removed, 50, "{}", E::NAME);
        assert_eq!(ks.expiring_len(), 0);
        assert_eq!(ks.len(), 5000);
    });
}

#[test]
fn short_strings_are_inline_and_long_ones_shared() {
    // The inline form fills a 40-byte `Str`, and `Value` keeps its tag in a niche of it.
    assert_eq!(std::mem::size_of::<Str>(), 40);
    assert_eq!(std::mem::size_of::<Value>(), 40);
    // And the packed metadata with the access clock keeps an entry at one cache line's size.
    assert_eq!(std::mem::size_of::<Meta>(), 12);
    assert_eq!(std::mem::size_of::<Entry<Value>>(), 64);
    for len in [
        0,
        1,
        STR_INLINE_BYTES - 1,
        STR_INLINE_BYTES,
        STR_INLINE_BYTES + 1,
        300,
    ] {
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let copied = Str::copy_from(&bytes);
        let moved = Str::from(bytes.clone());
        assert_eq!(copied.as_bytes(), &bytes[..], "{len}");
        assert_eq!(moved.as_bytes(), &bytes[..], "{len}");
        assert_eq!(copied.len(), len);
        assert_eq!(copied.is_empty(), len == 0);
        assert_eq!(copied, moved);
        assert_eq!(copied.is_inline(), len <= STR_INLINE_BYTES, "{len}");
        // A clone is the same value; an equal copy is the same value only when inline (a
        // shared one is another allocation, which the journal must log as a new value).
        assert!(copied.is_same(&copied.clone()));
        assert_eq!(copied.is_same(&moved), len <= STR_INLINE_BYTES, "{len}");
    }
    let a = Str::copy_from(b"a");
    let long = Str::copy_from(&[b'b'; 100]);
    assert_eq!(a.cmp(&long), std::cmp::Ordering::Less);
    assert_eq!(long.partial_cmp(&a), Some(std::cmp::Ordering::Greater));
    assert_ne!(a, long);
    assert!(!a.is_same(&long));
    assert_eq!(Str::default(), Str::copy_from(b""));
}

/// A journal that says nobody listens to the first `deaf` questions, then listens: a
/// subscription arriving while a write is in flight.
struct LateListener {
    deaf: std::sync::atomic::AtomicUsize,
    records: std::sync::Mutex<Vec<(u64, String)>>,
}

impl Journal for LateListener {
    fn record(&self, version: u64, effect: &Effect<'_>) {
        let text = match effect {
            Effect::PutString { key, value, .. } => format!(
                "put {} {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(value)
            ),
            Effect::Delete { key } => format!("del {}", String::from_utf8_lossy(key)),
            other => format!("{other:?}"),
        };
        self.records.lock().unwrap().push((version, text));
    }

    fn listening(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.deaf
            .fetch_update(SeqCst, SeqCst, |deaf| deaf.checked_sub(1))
            .is_err()
    }
}

/// A write that captured nothing because nobody listened when it began, and finds a
/// listener once installed, is reported from what the key holds (its snapshot may have
/// missed it), or as a delete when the key is gone.
#[test]
fn a_write_that_began_before_anyone_listened_is_reported_late() {
    let keyspace = Keyspace::new(LockFree::<Value>::new());
    let late = Arc::new(LateListener {
        deaf: std::sync::atomic::AtomicUsize::new(0),
        records: std::sync::Mutex::new(Vec::new()),
    });
    assert!(keyspace.set_journal(late.clone()).is_ok());
    let db = keyspace.shared();
    let deaf_once = || late.deaf.store(1, std::sync::atomic::Ordering::SeqCst);
    // SET (write_locked): nobody before, someone after.
    deaf_once();
    db.set(b"k", s("v1"), SetOptions::default()).unwrap();
    // INCR (write_locked).
    deaf_once();
    assert_eq!(db.incr_by(b"n", 5), Ok(5));
    // GETDEL removes: reported as a delete.
    deaf_once();
    assert_eq!(db.getdel(b"k"), Ok(Some(s("v1"))));
    // Listening all along: the usual capture.
    db.set(b"k", s("v2"), SetOptions::default()).unwrap();
    let records = late.records.lock().unwrap().clone();
    let texts: Vec<&str> = records.iter().map(|(_, text)| text.as_str()).collect();
    assert_eq!(texts, ["put k v1", "put n 5", "del k", "put k v2"]);
    assert!(
        records.windows(2).all(|pair| pair[0].0 < pair[1].0),
        "{records:?}"
    );
}
