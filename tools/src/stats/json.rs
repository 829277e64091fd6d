//! `ixy-stats --json`: the [`Report`] serialised by `serde_json`, one line
//! per sample. The report structs are the schema: their fields, in order,
//! are the keys (DESIGN.md 8 lists them); rates are [`crate::json::Rounded`].

use super::report::Report;

/// The report as one line of JSON (no newline):
/// `{"workers":[...],"ports":[...],"total":{...},"unix_ns":N,"interval_s":X}`.
/// Counts are integers, rates are numbers rounded to 6 decimals, unknown
/// rates are `null`; each worker and the total have an `"app"` object of
/// app counters (`{}` when there are none).
pub fn json(r: &Report) -> String {
    // Plain structs of numbers, strings and string-keyed maps: cannot fail.
    serde_json::to_string(r).expect("a report serialises")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{port, sample, worker};
    use super::super::{report, PortHistory};
    use super::*;
    use std::time::Duration;

    #[test]
    fn json_shape() {
        let mut s0 = sample(vec![worker(0, 0, 0, 0)], vec![], 0);
        s0.unix_ns = 5;
        let mut p = port(10, 1, 2);
        p.device = "we\"ird\n".into();
        let mut w1 = worker(0, 2_000_000, 1_000_000, 4_000_000);
        w1.counters.idle_cycles = 12_000_000;
        w1.counters.rx_queue_resets = 2;
        let mut s1 = sample(vec![w1], vec![p], 10);
        s1.at = s0.at + Duration::from_secs(1);
        let j = json(&report(Some(&s0), &s1, &mut PortHistory::default()));
        assert!(!j.contains('\n'));
        let expected = concat!(
            r#"{"workers":[{"index":0,"pid":100,"alive":true,"core":0,"queue":0,"state":"running","#,
            r#""rx_packets":2000000,"rx_bytes":128000000,"tx_packets":1000000,"tx_bytes":64000000,"#,
            r#""tx_drops":1,"rx_bad_descriptors":0,"rx_queue_resets":2,"#,
            r#""rx_mpps":2,"tx_mpps":1,"rx_gbps":1.024,"tx_gbps":0.512,"#,
            r#""busy_cycles":4000000,"idle_cycles":12000000,"busy_percent":25,"#,
            r#""cycles_per_packet":2,"restarts":0,"app":{}}],"#,
            r#""ports":[{"port":0,"device":"we\"ird\n","rx_packets":1,"rx_bytes":100,"#,
            r#""tx_packets":2,"tx_bytes":200,"rx_mpps":null,"tx_mpps":null,"rx_gbps":null,"#,
            r#""tx_gbps":null,"rx_missed":3,"rx_no_buffer":4,"rx_crc_errors":5,"#,
            r#""updated_unix_ns":10000000000,"queues":[{"queue":1,"rx_packets":6,"#,
            r#""rx_bytes":600,"rx_dropped":4,"tx_packets":0,"tx_bytes":0}]}],"#,
            r#""total":{"workers":1,"alive":1,"rx_packets":2000000,"rx_bytes":128000000,"#,
            r#""tx_packets":1000000,"tx_bytes":64000000,"tx_drops":1,"#,
            r#""rx_bad_descriptors":0,"rx_queue_resets":2,"rx_mpps":2,"tx_mpps":1,"#,
            r#""rx_gbps":1.024,"tx_gbps":0.512,"cycles_per_packet":2,"busy_percent":25,"#,
            r#""restarts":0,"app":{}},"#,
            r#""unix_ns":10000000000,"interval_s":1}"#
        );
        assert_eq!(j, expected);
    }

    #[test]
    fn app_counters_are_objects_per_worker_and_summed_in_the_total() {
        let mut w0 = worker(0, 0, 0, 0);
        w0.app = vec![("flows".into(), 3), ("hits".into(), 10)];
        let mut w1 = worker(1, 0, 0, 0);
        w1.app = vec![("flows".into(), 4)];
        let s = sample(vec![w0, w1], vec![], 1);
        let j = json(&report(None, &s, &mut PortHistory::default()));
        assert!(
            j.contains(r#""restarts":0,"app":{"flows":3,"hits":10}}"#),
            "{j}"
        );
        assert!(j.contains(r#""restarts":1,"app":{"flows":4}}"#), "{j}");
        assert!(
            j.contains(r#""app":{"flows":7,"hits":10}},"unix_ns""#),
            "{j}"
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["total"]["app"]["flows"], 7);
        assert_eq!(v["interval_s"], serde_json::Value::Null);
    }
}
