//! The driver's Toeplitz hash against the published RSS verification suite
//! (82599 datasheet 7.1.2.8.3), read from `tests/data/rss-verification-vectors.json`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ixy_driver::rss::{toeplitz, RssConfig, RssKey, MICROSOFT_KEY};

/// Just enough JSON for the vectors file: objects, arrays, strings without
/// escapes, and unsigned integers.
#[derive(Debug)]
enum Json {
    Str(String),
    Num(u64),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) {
        self.skip_ws();
        assert_eq!(
            self.s.get(self.pos).copied(),
            Some(c),
            "expected '{}' at byte {}",
            c as char,
            self.pos
        );
        self.pos += 1;
    }

    fn peek(&mut self) -> u8 {
        self.skip_ws();
        *self.s.get(self.pos).expect("unexpected end of JSON")
    }

    fn string(&mut self) -> String {
        self.expect(b'"');
        let start = self.pos;
        while self.s[self.pos] != b'"' {
            assert_ne!(self.s[self.pos], b'\\', "escapes are not supported");
            self.pos += 1;
        }
        self.pos += 1;
        String::from_utf8(self.s[start..self.pos - 1].to_vec()).unwrap()
    }

    /// Parses a comma-separated list up to `close`, calling `item` for each.
    fn list(&mut self, close: u8, mut item: impl FnMut(&mut Self)) {
        if self.peek() == close {
            self.pos += 1;
            return;
        }
        loop {
            item(self);
            match self.peek() {
                b',' => self.pos += 1,
                c if c == close => {
                    self.pos += 1;
                    return;
                }
                c => panic!("unexpected '{}' at byte {}", c as char, self.pos),
            }
        }
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'"' => Json::Str(self.string()),
            b'[' => {
                self.pos += 1;
                let mut v = Vec::new();
                self.list(b']', |p| v.push(p.value()));
                Json::Arr(v)
            }
            b'{' => {
                self.pos += 1;
                let mut m = BTreeMap::new();
                self.list(b'}', |p| {
                    let k = p.string();
                    p.expect(b':');
                    m.insert(k, p.value());
                });
                Json::Obj(m)
            }
            c if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap();
                Json::Num(digits.parse().unwrap())
            }
            c => panic!("unexpected '{}' at byte {}", c as char, self.pos),
        }
    }
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(key).unwrap_or_else(|| panic!("no \"{key}\"")),
            _ => panic!("not an object looking up \"{key}\""),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }

    fn num(&self) -> u64 {
        match self {
            Json::Num(n) => *n,
            _ => panic!("not a number: {self:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            _ => panic!("not an array: {self:?}"),
        }
    }
}

fn vectors() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rss-verification-vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let v = p.value();
    p.skip_ws();
    assert_eq!(p.pos, text.len(), "trailing data in {path}");
    v
}

/// A vector: source, destination, ports, hash over addresses, hash over
/// addresses and ports.
struct Vector<A> {
    src: A,
    dst: A,
    ports: (u16, u16),
    hash_ip: u32,
    hash_ip_ports: u32,
}

fn hex_u32(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn parse_vectors<A: std::str::FromStr>(all: &Json, family: &str) -> Vec<Vector<A>>
where
    A::Err: std::fmt::Debug,
{
    let list: Vec<Vector<A>> = all
        .get(family)
        .arr()
        .iter()
        .map(|v| Vector {
            src: v.get("src").str().parse().unwrap(),
            dst: v.get("dst").str().parse().unwrap(),
            ports: (
                u16::try_from(v.get("sport").num()).unwrap(),
                u16::try_from(v.get("dport").num()).unwrap(),
            ),
            hash_ip: hex_u32(v.get("hash_ip").str()),
            hash_ip_ports: hex_u32(v.get("hash_ip_ports").str()),
        })
        .collect();
    assert!(!list.is_empty(), "no {family} vectors");
    list
}

/// The hash input of 7.1.2.8.3: addresses, then ports, all big-endian.
fn input(src: &[u8], dst: &[u8], ports: Option<(u16, u16)>) -> Vec<u8> {
    let mut v = [src, dst].concat();
    if let Some((s, d)) = ports {
        v.extend_from_slice(&s.to_be_bytes());
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

#[test]
fn key_is_the_verification_key() {
    let all = vectors();
    let key: RssKey = all.get("key_hex").str().parse().unwrap();
    assert_eq!(key, RssKey::Given(MICROSOFT_KEY));
    assert_eq!(RssKey::Default.bytes().unwrap(), MICROSOFT_KEY);
}

#[test]
fn ipv4_vectors() {
    let all = vectors();
    let cfg = RssConfig::new(1, RssKey::Default).unwrap();
    let list = parse_vectors::<Ipv4Addr>(&all, "ipv4");
    assert_eq!(list.len(), 5);
    for v in &list {
        let (s, d) = (v.src.octets(), v.dst.octets());
        let what = format!("{} -> {} ports {:?}", v.src, v.dst, v.ports);
        assert_eq!(
            toeplitz(&MICROSOFT_KEY, &input(&s, &d, None)),
            v.hash_ip,
            "{what}"
        );
        assert_eq!(
            toeplitz(&MICROSOFT_KEY, &input(&s, &d, Some(v.ports))),
            v.hash_ip_ports,
            "{what}"
        );
        assert_eq!(cfg.hash_ipv4(v.src, v.dst, None), v.hash_ip, "{what}");
        assert_eq!(
            cfg.hash_ipv4(v.src, v.dst, Some(v.ports)),
            v.hash_ip_ports,
            "{what}"
        );
        let (hash, _) = cfg.rss_ipv4_udp(v.src, v.dst, v.ports.0, v.ports.1);
        assert_eq!(hash, v.hash_ip_ports, "{what}");
    }
}

#[test]
fn ipv6_vectors() {
    let all = vectors();
    let cfg = RssConfig::new(1, RssKey::Default).unwrap();
    let list = parse_vectors::<Ipv6Addr>(&all, "ipv6");
    assert_eq!(list.len(), 3);
    for v in &list {
        let (s, d) = (v.src.octets(), v.dst.octets());
        let what = format!("{} -> {} ports {:?}", v.src, v.dst, v.ports);
        assert_eq!(
            toeplitz(&MICROSOFT_KEY, &input(&s, &d, None)),
            v.hash_ip,
            "{what}"
        );
        assert_eq!(
            toeplitz(&MICROSOFT_KEY, &input(&s, &d, Some(v.ports))),
            v.hash_ip_ports,
            "{what}"
        );
        assert_eq!(cfg.hash_ipv6(v.src, v.dst, None), v.hash_ip, "{what}");
        assert_eq!(
            cfg.hash_ipv6(v.src, v.dst, Some(v.ports)),
            v.hash_ip_ports,
            "{what}"
        );
    }
}
