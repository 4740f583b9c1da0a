//! Who a peer is: the cluster id (`--cluster-id`, kept in the data directory from the member's
//! first start) and the hello that opens every peer connection, which the receiving member checks
//! before it believes any raft message on that connection.
//!
//! A hello is refused when it names another cluster (two clusters whose `--peers` overlap by
//! mistake must not mix their logs) or a node id that is not one of the other members (in
//! `--peers`, or a voter of the configuration the member has applied).
//! Owns the hello's body encoding and that check; the framing around it is `transport`'s.

use std::io::Write;
use std::path::Path;

/// The file in the data directory holding the cluster id the member first started with.
pub const CLUSTER_ID_FILE: &str = "cluster-id";
/// The id of a cluster started without `--cluster-id`.
pub const CLUSTER_ID_DEFAULT: &str = "splitd";
/// Longest cluster id: it travels in every hello and is written into the log once.
pub const CLUSTER_ID_BYTES_MAX: usize = 64;
/// Longest client address a hello may carry (a `host:port`; anything longer is not one).
const CLIENT_BYTES_MAX: usize = 255;

/// Why a cluster id is unusable, or `Ok`: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_cluster_id(id: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > CLUSTER_ID_BYTES_MAX || !id.chars().all(allowed) {
        return Err(format!("cluster id {id:?}: 1 to {CLUSTER_ID_BYTES_MAX} letters, digits, '.', '_' or '-'"));
    }
    Ok(())
}

/// The cluster id this member runs with. At the first start (no `cluster-id` file in `dir`) it is
/// `flag` (or the default) and is written there; afterwards the file's, which `flag`, when given,
/// must equal: a data directory never changes clusters.
pub fn settle_cluster_id(dir: &Path, flag: Option<&str>) -> Result<String, String> {
    if let Some(flag) = flag {
        check_cluster_id(flag).map_err(|err| format!("--cluster-id: {err}"))?;
    }
    let path = dir.join(CLUSTER_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored = text.trim_end_matches('\n');
            check_cluster_id(stored).map_err(|err| format!("{}: {err}", path.display()))?;
            match flag {
                Some(flag) if flag != stored => Err(format!(
                    "--cluster-id {flag}: the data directory {} belongs to cluster {stored} (see {})",
                    dir.display(),
                    path.display()
                )),
                _ => Ok(stored.to_string()),
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let id = flag.unwrap_or(CLUSTER_ID_DEFAULT);
            write_durably(dir, &path, id).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
            Ok(id.to_string())
        }
        Err(err) => Err(format!("cannot read {}: {err}", path.display())),
    }
}

/// Writes `id` to `path` through a temporary file, synced, renamed, and the directory synced.
fn write_durably(dir: &Path, path: &Path, id: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!("{CLUSTER_ID_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(format!("{id}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The first frame on a dialled peer connection: who dials, of which cluster, where its clients
/// connect (how members learn where to redirect clients) and its own peer address (how a member
/// learns the address of a member added by an entry its log no longer holds: compacted behind a
/// snapshot, or brought by one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub id: u64,
    pub cluster: String,
    pub client: String,
    pub peer: Option<std::net::SocketAddr>,
}

impl Hello {
    /// The body: `<u64 LE id> <u8 length> <cluster id> <client address>[ <peer address>]` (a
    /// member without the last part is understood).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = self.id.to_le_bytes().to_vec();
        body.push(self.cluster.len() as u8);
        body.extend_from_slice(self.cluster.as_bytes());
        body.extend_from_slice(self.client.as_bytes());
        if let Some(peer) = self.peer {
            body.extend_from_slice(format!(" {peer}").as_bytes());
        }
        body
    }

    /// Reads a body `encode` wrote; the reason in words for anything else.
    pub fn decode(body: &[u8]) -> Result<Hello, String> {
        let (Some(id), Some(&length)) = (body.get(..8), body.get(8)) else {
            return Err(format!("peer hello of {} bytes is too short", body.len()));
        };
        let id = u64::from_le_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]);
        let rest = &body[9..];
        let Some(cluster) = rest.get(..length as usize) else {
            return Err("peer hello: its cluster id is cut short".to_string());
        };
        let cluster = std::str::from_utf8(cluster).map_err(|_| "peer hello: cluster id is not UTF-8".to_string())?;
        check_cluster_id(cluster).map_err(|err| format!("peer hello: {err}"))?;
        let client = &rest[length as usize..];
        if client.len() > CLIENT_BYTES_MAX {
            return Err(format!("peer hello: a client address of {} bytes", client.len()));
        }
        let client = std::str::from_utf8(client).map_err(|_| "peer hello: client address is not UTF-8".to_string())?;
        let (client, peer) = match client.split_once(' ') {
            None => (client, None),
            Some((client, peer)) => {
                let peer = peer.parse().map_err(|_| format!("peer hello: {peer:?} is not a peer address"))?;
                (client, Some(peer))
            }
        };
        Ok(Hello { id, cluster: cluster.to_string(), client: client.to_string(), peer })
    }
}

/// Why a peer's hello was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The peer is a member of another cluster.
    OtherCluster { id: u64, cluster: String },
    /// The peer's node id is not one of the other members in `--peers`.
    NotAMember(u64),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::OtherCluster { id, cluster } => {
                write!(f, "node {id} says it belongs to cluster {cluster:?}, not this one")
            }
            Refused::NotAMember(id) => write!(f, "node {id} is not one of the other members in --peers"),
        }
    }
}

/// Whether `hello` comes from one of `others` (the members but this one) of cluster `cluster`.
pub fn admit(hello: &Hello, cluster: &str, others: &[u64]) -> Result<(), Refused> {
    if hello.cluster != cluster {
        return Err(Refused::OtherCluster { id: hello.id, cluster: hello.cluster.clone() });
    }
    if !others.contains(&hello.id) {
        return Err(Refused::NotAMember(hello.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(id: u64, cluster: &str) -> Hello {
        Hello { id, cluster: cluster.to_string(), client: "127.0.0.1:5005".to_string(), peer: None }
    }

    #[test]
    fn a_hello_carries_the_peer_address_and_one_without_it_is_understood() {
        let with = Hello { peer: Some("127.0.0.1:7004".parse().expect("addr")), ..hello(4, "c") };
        assert_eq!(Hello::decode(&with.encode()), Ok(with.clone()));
        assert_eq!(Hello::decode(&hello(4, "c").encode()).map(|h| h.peer), Ok(None));
        let mut bad = hello(4, "c").encode();
        bad.extend_from_slice(b" not-an-address");
        assert!(Hello::decode(&bad).unwrap_err().contains("not a peer address"));
    }

    #[test]
    fn a_hello_round_trips_and_a_damaged_one_is_refused_in_words() {
        let sent = hello(7, "alpha-1");
        let body = sent.encode();
        assert_eq!(Hello::decode(&body), Ok(sent.clone()));
        let empty_client = Hello { client: String::new(), ..sent.clone() };
        assert_eq!(Hello::decode(&empty_client.encode()), Ok(empty_client));
        assert!(Hello::decode(&body[..8]).unwrap_err().contains("too short"));
        assert!(Hello::decode(&body[..12]).unwrap_err().contains("cut short"));
        let mut bad_id = body.clone();
        bad_id[9] = b' ';
        assert!(Hello::decode(&bad_id).unwrap_err().contains("cluster id"));
        let mut empty_id = 7u64.to_le_bytes().to_vec();
        empty_id.push(0);
        assert!(Hello::decode(&empty_id).is_err(), "an empty cluster id is no cluster id");
        let long = Hello { client: "x".repeat(CLIENT_BYTES_MAX + 1), ..sent };
        assert!(Hello::decode(&long.encode()).unwrap_err().contains("client address"));
    }

    #[test]
    fn only_the_other_members_of_the_same_cluster_are_admitted() {
        let others = [2, 3];
        assert_eq!(admit(&hello(2, "alpha"), "alpha", &others), Ok(()));
        assert_eq!(
            admit(&hello(2, "beta"), "alpha", &others),
            Err(Refused::OtherCluster { id: 2, cluster: "beta".to_string() })
        );
        assert_eq!(admit(&hello(4, "alpha"), "alpha", &others), Err(Refused::NotAMember(4)));
        assert_eq!(admit(&hello(1, "alpha"), "alpha", &others), Err(Refused::NotAMember(1)), "not itself");
    }

    #[test]
    fn the_first_start_writes_the_cluster_id_and_later_ones_must_agree() {
        let dir = std::env::temp_dir().join(format!("splitd-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(settle_cluster_id(&dir, Some("alpha")), Ok("alpha".to_string()));
        assert_eq!(std::fs::read_to_string(dir.join(CLUSTER_ID_FILE)).unwrap(), "alpha\n");
        assert_eq!(settle_cluster_id(&dir, None), Ok("alpha".to_string()), "the file's id without the flag");
        let moved = settle_cluster_id(&dir, Some("beta")).unwrap_err();
        assert!(moved.contains("belongs to cluster alpha"), "{moved}");
        assert!(settle_cluster_id(&dir, Some("no spaces")).unwrap_err().contains("--cluster-id"));
        std::fs::remove_file(dir.join(CLUSTER_ID_FILE)).unwrap();
        assert_eq!(settle_cluster_id(&dir, None), Ok(CLUSTER_ID_DEFAULT.to_string()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
