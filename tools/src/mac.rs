//! MAC addresses as the tools read and write them: one rule for every
//! option that takes one (`ixy-pktgen --dst-mac`, `ixy-latency --dst-mac`)
//! and for the MACs in a simulated lab's `lab.conf`.
//!
//! The rule: six bytes, each exactly two hex digits (upper or lower case),
//! separated all by `:` or all by `-`: `02:1c:59:90:00:0a`,
//! `02-1C-59-90-00-0A`. Blanks around the whole address are ignored.
//! Anything else (`2:1c:59:90:0:a`, `021c.5990.000a`, mixed separators,
//! `+f` for a byte) is refused.

/// Parses a MAC address by the rule of this module. `Err` is one line:
/// `MAC address "nope": use six bytes of two hex digits separated by ':'
/// or '-', e.g. 02:1c:59:90:00:00`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let bad = || {
        format!(
            "MAC address {s:?}: use six bytes of two hex digits separated by ':' or '-', e.g. 02:1c:59:90:00:00"
        )
    };
    let t = s.trim();
    let sep = if t.contains(':') { ':' } else { '-' };
    let mut mac = [0u8; 6];
    let mut parts = t.split(sep);
    for byte in &mut mac {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

/// Parses the value of MAC option `option` (e.g. `--dst-mac`) by
/// [`parse_mac`]; `Err` is one line that names the option:
/// `--dst-mac: MAC address "nope": use six bytes ...`.
pub fn parse_mac_option(option: &str, s: &str) -> Result<[u8; 6], String> {
    parse_mac(s).map_err(|e| format!("{option}: {e}"))
}

/// `mac` as `aa:bb:cc:dd:ee:ff` (lower case), which [`parse_mac`] reads back.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs and what the rule makes of them.
    const CASES: &[(&str, Option<[u8; 6]>)] = &[
        ("02:1c:59:90:00:0a", Some([2, 0x1c, 0x59, 0x90, 0, 10])),
        ("02:1C:59:90:00:0A", Some([2, 0x1c, 0x59, 0x90, 0, 10])),
        ("02-1c-59-90-00-0a", Some([2, 0x1c, 0x59, 0x90, 0, 10])),
        ("ff-ff-ff-ff-ff-ff", Some([0xff; 6])),
        (" 00:00:00:00:00:00 ", Some([0; 6])),
        ("", None),
        ("nope", None),
        ("02:1c:59:90:00", None),
        ("02:1c:59:90:00:00:00", None),
        ("02:1c:59:90:00:0g", None),
        ("2:1c:59:90:0:a", None),
        ("002:1c:59:90:00:0a", None),
        ("02:1c-59:90:00:0a", None),
        ("+2:1c:59:90:00:0a", None),
        ("02:1c:59:90:00:0a:", None),
        ("021c.5990.000a", None),
        ("02 1c 59 90 00 0a", None),
    ];

    #[test]
    fn one_rule() {
        for (input, want) in CASES {
            match (parse_mac(input), want) {
                (Ok(got), Some(want)) => assert_eq!(&got, want, "{input:?}"),
                (Err(e), None) => {
                    assert!(e.starts_with("MAC address") && !e.contains('\n'), "{e}")
                }
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
        let e = parse_mac_option("--dst-mac", "zz").unwrap_err();
        assert!(e.starts_with("--dst-mac: MAC address \"zz\""), "{e}");
    }

    #[test]
    fn formatting_round_trips() {
        for mac in [[0u8; 6], [0xff; 6], [2, 0x1c, 0x59, 0x90, 0, 10]] {
            assert_eq!(parse_mac(&format_mac(mac)), Ok(mac));
        }
        assert_eq!(
            format_mac([2, 0x1c, 0x59, 0x90, 0, 10]),
            "02:1c:59:90:00:0a"
        );
    }
}
