//! The RSS verification suite (82599 datasheet 7.1.2.8.3) checked against
//! `ixy_sim::rss::toeplitz` directly and through `ixy_sim::rss::classify` on frames
//! built from the vector addresses and parsed by `ixy_sim::frame::parse`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ixy_sim::frame::{parse, L3, L4};
use ixy_sim::rss::{classify, toeplitz, RssState};

// ---------------------------------------------------------------------------
// A tiny JSON reader, enough for the vectors file (objects, arrays, strings
// with simple escapes, numbers, true/false/null).

#[derive(Debug, Clone)]
enum Json {
    /// `true`, `false` or `null`: not used by the vectors.
    Literal,
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    fn get(&self, k: &str) -> &Json {
        match self {
            Json::Obj(m) => m.get(k).unwrap_or_else(|| panic!("missing key {k}")),
            _ => panic!("not an object looking up {k}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn u16(&self) -> u16 {
        match self {
            Json::Num(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(n) => *n as u16,
            other => panic!("not a port: {other:?}"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn hex_u32(&self) -> u32 {
        let s = self.str();
        u32::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex u32")
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> u8 {
        self.ws();
        *self.s.get(self.i).expect("unexpected end of JSON")
    }
    fn eat(&mut self, c: u8) {
        assert_eq!(self.peek(), c, "expected {:?} at {}", c as char, self.i);
        self.i += 1;
    }
    fn lit(&mut self, word: &str) -> Json {
        assert!(
            self.s[self.i..].starts_with(word.as_bytes()),
            "bad literal at {}",
            self.i
        );
        self.i += word.len();
        Json::Literal
    }
    fn string(&mut self) -> String {
        self.eat(b'"');
        let mut out = Vec::new();
        loop {
            let c = self.s[self.i];
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    out.push(self.s[self.i]);
                    self.i += 1;
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).expect("utf-8 string")
    }
    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => {
                self.eat(b'{');
                let mut m = BTreeMap::new();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Json::Obj(m);
                }
                loop {
                    let k = self.string();
                    self.eat(b':');
                    m.insert(k, self.value());
                    match self.peek() {
                        b',' => self.i += 1,
                        _ => {
                            self.eat(b'}');
                            return Json::Obj(m);
                        }
                    }
                }
            }
            b'[' => {
                self.eat(b'[');
                let mut v = Vec::new();
                if self.peek() == b']' {
                    self.i += 1;
                    return Json::Arr(v);
                }
                loop {
                    v.push(self.value());
                    match self.peek() {
                        b',' => self.i += 1,
                        _ => {
                            self.eat(b']');
                            return Json::Arr(v);
                        }
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            b't' => self.lit("true"),
            b'f' => self.lit("false"),
            b'n' => self.lit("null"),
            _ => {
                let start = self.i;
                while self
                    .s
                    .get(self.i)
                    .is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                Json::Num(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad number {text:?}")),
                )
            }
        }
    }
}

fn parse_json(text: &str) -> Json {
    let mut r = Reader {
        s: text.as_bytes(),
        i: 0,
    };
    let v = r.value();
    r.ws();
    assert_eq!(r.i, text.len(), "trailing data in JSON");
    v
}

// ---------------------------------------------------------------------------
// Vectors.

struct Vector {
    src: Vec<u8>,
    dst: Vec<u8>,
    sport: u16,
    dport: u16,
    hash_ip: u32,
    hash_ip_ports: u32,
}

struct Suite {
    key: [u8; 40],
    ipv4: Vec<Vector>,
    ipv6: Vec<Vector>,
}

fn load() -> Suite {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rss-verification-vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let j = parse_json(&text);

    let key_hex = j.get("key_hex").str();
    assert_eq!(key_hex.len(), 80, "key is 40 bytes");
    let mut key = [0u8; 40];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).expect("key hex");
    }

    let vectors = |name: &str, addr: fn(&str) -> Vec<u8>| -> Vec<Vector> {
        j.get(name)
            .arr()
            .iter()
            .map(|v| Vector {
                src: addr(v.get("src").str()),
                dst: addr(v.get("dst").str()),
                sport: v.get("sport").u16(),
                dport: v.get("dport").u16(),
                hash_ip: v.get("hash_ip").hex_u32(),
                hash_ip_ports: v.get("hash_ip_ports").hex_u32(),
            })
            .collect()
    };
    let v4 = |s: &str| {
        s.parse::<Ipv4Addr>()
            .expect("IPv4 address")
            .octets()
            .to_vec()
    };
    let v6 = |s: &str| {
        s.parse::<Ipv6Addr>()
            .expect("IPv6 address")
            .octets()
            .to_vec()
    };
    let suite = Suite {
        key,
        ipv4: vectors("ipv4", v4),
        ipv6: vectors("ipv6", v6),
    };
    assert!(!suite.ipv4.is_empty() && !suite.ipv6.is_empty());
    suite
}

fn hash_input(v: &Vector, ports: bool) -> Vec<u8> {
    let mut inp = [v.src.as_slice(), v.dst.as_slice()].concat();
    if ports {
        inp.extend_from_slice(&v.sport.to_be_bytes());
        inp.extend_from_slice(&v.dport.to_be_bytes());
    }
    inp
}

// ---------------------------------------------------------------------------
// Frame builders.

const MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

fn tcp_header(sport: u16, dport: u16) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x20, 0x00, 0, 0, 0, 0]);
    t
}

/// IPv4 frame; `flags_frag` is the raw flags/fragment-offset field.
fn ipv4_frame(v: &Vector, proto: u8, flags_frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut f = MACS.to_vec();
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&u16::try_from(20 + l4.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[0, 1]);
    f.extend_from_slice(&flags_frag.to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0]);
    f.extend_from_slice(&v.src);
    f.extend_from_slice(&v.dst);
    f.extend_from_slice(l4);
    f
}

/// IPv6 frame with the given first next-header value and payload.
fn ipv6_frame(v: &Vector, next: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = MACS.to_vec();
    f.extend_from_slice(&0x86DDu16.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&v.src);
    f.extend_from_slice(&v.dst);
    f.extend_from_slice(payload);
    f
}

/// IPv6 fragment header (next = TCP) for a first fragment, M = 1, offset 0.
fn ipv6_first_fragment(v: &Vector) -> Vec<u8> {
    let mut payload = vec![6, 0, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef];
    payload.extend(tcp_header(v.sport, v.dport));
    ipv6_frame(v, 44, &payload)
}

fn config(suite: &Suite, fields: u32) -> RssState {
    let mut rssrk = [0u32; 10];
    for (r, k) in rssrk.iter_mut().zip(suite.key.chunks_exact(4)) {
        *r = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    }
    let mut reta = [0u32; 32];
    for (i, r) in reta.iter_mut().enumerate() {
        let e = |j: usize| u32::try_from((4 * i + j) * 7 % 16).unwrap();
        *r = e(0) | e(1) << 8 | e(2) << 16 | e(3) << 24;
    }
    RssState::from_registers(driver::regs::MRQC_RSSEN | fields, &rssrk, &reta)
}

fn expect_queue(cfg: &RssState, hash: u32) -> u32 {
    u32::from(cfg.reta[(hash & 0x7F) as usize] & 0xF)
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn toeplitz_ipv4_vectors() {
    let s = load();
    for v in &s.ipv4 {
        assert_eq!(toeplitz(&s.key, &hash_input(v, false)), v.hash_ip);
        assert_eq!(toeplitz(&s.key, &hash_input(v, true)), v.hash_ip_ports);
    }
}

#[test]
fn toeplitz_ipv6_vectors() {
    let s = load();
    for v in &s.ipv6 {
        assert_eq!(toeplitz(&s.key, &hash_input(v, false)), v.hash_ip);
        assert_eq!(toeplitz(&s.key, &hash_input(v, true)), v.hash_ip_ports);
    }
}

#[test]
fn classify_ipv4_vectors() {
    use driver::regs::*;
    let s = load();
    let all = config(
        &s,
        MRQC_RSS_FIELD_IPV4 | MRQC_RSS_FIELD_IPV4_TCP | MRQC_RSS_FIELD_IPV4_UDP,
    );
    let addr_only = config(&s, MRQC_RSS_FIELD_IPV4);
    for v in &s.ipv4 {
        // TCP: addresses and ports.
        let tcp = parse(&ipv4_frame(v, 6, 0x4000, &tcp_header(v.sport, v.dport)));
        assert_eq!(
            tcp.l4,
            L4::Tcp {
                sport: v.sport,
                dport: v.dport
            }
        );
        let r = classify(&all, &tcp);
        assert_eq!(r.hash, v.hash_ip_ports);
        assert_eq!(r.rss_type, RXDADV_RSSTYPE_IPV4_TCP);
        assert_eq!(r.queue, expect_queue(&all, v.hash_ip_ports));

        // Same TCP frame, TCP field disabled: addresses only.
        let r = classify(&addr_only, &tcp);
        assert_eq!((r.hash, r.rss_type), (v.hash_ip, RXDADV_RSSTYPE_IPV4));

        // First fragment (MF set) and a later fragment: no L4, addresses only.
        for flags_frag in [0x2000u16, 0x00B9] {
            let frag = parse(&ipv4_frame(v, 6, flags_frag, &tcp_header(v.sport, v.dport)));
            assert!(matches!(frag.l3, L3::Ipv4 { fragment: true, .. }));
            assert_eq!(frag.l4, L4::None);
            let r = classify(&all, &frag);
            assert_eq!(r.hash, v.hash_ip);
            assert_eq!(r.rss_type, RXDADV_RSSTYPE_IPV4);
            assert_eq!(r.queue, expect_queue(&all, v.hash_ip));
        }

        // No L4 at all (ICMP).
        let icmp = parse(&ipv4_frame(v, 1, 0, &[8, 0, 0, 0, 0, 0, 0, 0]));
        let r = classify(&all, &icmp);
        assert_eq!((r.hash, r.rss_type), (v.hash_ip, RXDADV_RSSTYPE_IPV4));
    }
}

#[test]
fn classify_ipv6_vectors() {
    use driver::regs::*;
    let s = load();
    let all = config(
        &s,
        MRQC_RSS_FIELD_IPV6 | MRQC_RSS_FIELD_IPV6_TCP | MRQC_RSS_FIELD_IPV6_UDP,
    );
    for v in &s.ipv6 {
        // TCP: addresses and ports.
        let tcp = parse(&ipv6_frame(v, 6, &tcp_header(v.sport, v.dport)));
        assert_eq!(
            tcp.l4,
            L4::Tcp {
                sport: v.sport,
                dport: v.dport
            }
        );
        let r = classify(&all, &tcp);
        assert_eq!(r.hash, v.hash_ip_ports);
        assert_eq!(r.rss_type, RXDADV_RSSTYPE_IPV6_TCP);
        assert_eq!(r.queue, expect_queue(&all, v.hash_ip_ports));

        // First fragment: no L4, addresses only.
        let frag = parse(&ipv6_first_fragment(v));
        assert!(matches!(frag.l3, L3::Ipv6 { fragment: true, .. }));
        assert_eq!(frag.l4, L4::None);
        let r = classify(&all, &frag);
        assert_eq!(r.hash, v.hash_ip);
        assert_eq!(r.rss_type, RXDADV_RSSTYPE_IPV6);
        assert_eq!(r.queue, expect_queue(&all, v.hash_ip));

        // No next header (59): no L4, addresses only.
        let none = parse(&ipv6_frame(v, 59, &[]));
        assert_eq!(none.l4, L4::None);
        let r = classify(&all, &none);
        assert_eq!((r.hash, r.rss_type), (v.hash_ip, RXDADV_RSSTYPE_IPV6));

        // IPv4 enables only: IPv6 is not hashed.
        let r = classify(
            &config(&s, MRQC_RSS_FIELD_IPV4 | MRQC_RSS_FIELD_IPV4_TCP),
            &tcp,
        );
        assert_eq!((r.hash, r.rss_type, r.queue), (0, RXDADV_RSSTYPE_NONE, 0));
    }
}
