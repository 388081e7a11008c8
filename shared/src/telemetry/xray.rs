//! Each AWS call of a traced invocation as an X-Ray subsegment: its service, operation,
//! table or bucket, status and AWS request id, timed, under the function's segment — so a slow
//! request's trace shows which call was slow. Rust has no X-Ray SDK; this is the part of one
//! Keel needs. Subsegments go as UDP datagrams to the X-Ray daemon Lambda runs beside the
//! function (`AWS_XRAY_DAEMON_ADDRESS`), after the handler answered and before the invocation
//! ends; nothing is sent when the trace is not sampled or no daemon is configured.

use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use super::Call;

/// The header of every document the daemon accepts.
const HEADER: &str = "{\"format\":\"json\",\"version\":1}\n";

/// Where subsegments go: the test's listener, or the daemon Lambda names.
static DAEMON: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// Sends this process's subsegments to `address` instead of the daemon in
/// `AWS_XRAY_DAEMON_ADDRESS`. For tests and local runs; the first call wins.
pub fn send_traces_to(address: SocketAddr) {
    let _ = DAEMON.set(Some(address));
}

fn daemon() -> Option<SocketAddr> {
    *DAEMON.get_or_init(|| {
        std::env::var("AWS_XRAY_DAEMON_ADDRESS")
            .ok()
            .and_then(|value| daemon_address(&value))
    })
}

/// The UDP address in `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or `udp:host:port tcp:host:port`.
fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value.trim());
    udp.parse().ok()
}

/// An invocation's trace, from its header (`Root=1-…;Parent=…;Sampled=1`): the trace and the
/// function segment the subsegments belong to, when the trace is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader<'a> {
    /// The trace (`1-5759e988-bd862e3fe1be46a994272793`).
    pub root: &'a str,
    /// The segment the invocation's work goes under.
    pub parent: &'a str,
}

impl<'a> TraceHeader<'a> {
    /// The sampled trace `header` names; `None` when it is not sampled or lacks a part.
    pub fn parse(header: &'a str) -> Option<Self> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for part in header.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", value)) => root = Some(value),
                Some(("Parent", value)) => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        Some(Self {
            root: root?,
            parent: parent?,
        })
        .filter(|_| sampled)
    }
}

/// The subsegment document of `call` under `trace`.
pub fn subsegment(trace: &TraceHeader<'_>, call: &Call) -> serde_json::Value {
    let start = call
        .started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let mut aws = serde_json::Map::new();
    aws.insert("operation".into(), call.operation.clone().into());
    if let Some(resource) = &call.resource {
        let field = if call.service == "S3" {
            "bucket_name"
        } else {
            "table_name"
        };
        aws.insert(field.into(), resource.clone().into());
    }
    if let Some(id) = &call.request_id {
        aws.insert("request_id".into(), id.clone().into());
    }
    let mut document = serde_json::json!({
        "name": call.service,
        "id": format!("{:016x}", rand::random::<u64>()),
        "trace_id": trace.root,
        "parent_id": trace.parent,
        "type": "subsegment",
        "namespace": "aws",
        "start_time": start,
        "end_time": start + call.took.as_secs_f64(),
        "aws": aws,
    });
    match call.status {
        Some(status) => {
            document["http"] = serde_json::json!({ "response": { "status": status } });
            if status == 429 {
                document["throttle"] = true.into();
            }
            if (400..500).contains(&status) {
                document["error"] = true.into();
            } else if status >= 500 {
                document["fault"] = true.into();
            }
        }
        // No answer at all: a timeout or a connection refused.
        None => document["fault"] = true.into(),
    }
    document
}

/// Sends `calls` as subsegments of the invocation traced by `header` (an unsampled trace, or
/// no daemon, sends nothing). A datagram that cannot be sent is dropped: tracing never fails a
/// request.
pub fn send(header: Option<&str>, calls: &[Call]) {
    let Some(daemon) = daemon() else { return };
    let Some(trace) = header.and_then(TraceHeader::parse) else {
        return;
    };
    static SOCKET: OnceLock<Option<UdpSocket>> = OnceLock::new();
    let Some(socket) = SOCKET.get_or_init(|| UdpSocket::bind(("0.0.0.0", 0)).ok()) else {
        return;
    };
    for call in calls {
        let datagram = format!("{HEADER}{}", subsegment(&trace, call));
        if let Err(error) = socket.send_to(datagram.as_bytes(), daemon) {
            tracing::debug!(%error, "an X-Ray subsegment was not sent");
        }
    }
}

/// A new sampled trace header, for an invocation nothing traced yet (`keel-local` gives each
/// request one, as Lambda's active tracing does).
pub fn new_trace_header() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let random: [u8; 12] = rand::random();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "Root=1-{now:08x}-{hex};Parent={:016x};Sampled=1",
        rand::random::<u64>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(service: &str, status: Option<u16>) -> Call {
        Call {
            service: service.into(),
            operation: "GetItem".into(),
            resource: Some("keel".into()),
            started: UNIX_EPOCH + Duration::from_millis(1_796_612_400_250),
            took: Duration::from_millis(12),
            status,
            request_id: Some("R3Q".into()),
        }
    }

    #[test]
    fn a_trace_header_is_read_only_when_sampled_and_whole() {
        let header =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0";
        assert_eq!(
            TraceHeader::parse(header),
            Some(TraceHeader {
                root: "1-5759e988-bd862e3fe1be46a994272793",
                parent: "53995c3f42cd8ad8"
            })
        );
        assert_eq!(
            TraceHeader::parse(&header.replace("Sampled=1", "Sampled=0")),
            None
        );
        assert_eq!(
            TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
            None
        );
        assert!(TraceHeader::parse(&new_trace_header()).is_some());
    }

    #[test]
    fn a_call_becomes_a_timed_aws_subsegment_naming_its_table_and_its_outcome() {
        let trace = TraceHeader {
            root: "1-5759e988-bd862e3fe1be46a994272793",
            parent: "53995c3f42cd8ad8",
        };
        let ok = subsegment(&trace, &call("DynamoDB", Some(200)));
        assert_eq!(ok["name"], "DynamoDB");
        assert_eq!(ok["type"], "subsegment");
        assert_eq!(ok["namespace"], "aws");
        assert_eq!(ok["trace_id"], trace.root);
        assert_eq!(ok["parent_id"], trace.parent);
        assert_eq!(ok["aws"]["operation"], "GetItem");
        assert_eq!(ok["aws"]["table_name"], "keel");
        assert_eq!(ok["aws"]["request_id"], "R3Q");
        assert_eq!(ok["http"]["response"]["status"], 200);
        assert_eq!(ok["start_time"], 1_796_612_400.25);
        assert!((ok["end_time"].as_f64().unwrap() - 1_796_612_400.262).abs() < 1e-6);
        assert_eq!(ok["id"].as_str().unwrap().len(), 16);
        assert!(ok.get("error").is_none() && ok.get("fault").is_none());

        let s3 = subsegment(&trace, &call("S3", Some(200)));
        assert_eq!(s3["aws"]["bucket_name"], "keel");
        let throttled = subsegment(&trace, &call("DynamoDB", Some(429)));
        assert_eq!(
            (throttled["throttle"].as_bool(), throttled["error"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(subsegment(&trace, &call("DynamoDB", Some(500)))["fault"], true);
        assert_eq!(subsegment(&trace, &call("DynamoDB", None))["fault"], true);
    }

    #[test]
    fn the_daemon_address_is_read_in_both_of_lambdas_forms() {
        let udp: SocketAddr = "169.254.79.129:2000".parse().unwrap();
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(udp));
        assert_eq!(
            daemon_address("tcp:127.0.0.1:2000 udp:169.254.79.129:2000"),
            Some(udp)
        );
        assert_eq!(daemon_address("nonsense"), None);
    }
}
