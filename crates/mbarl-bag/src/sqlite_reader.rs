//! sqlite3 (`.db3`) storage: rosbag2's original format (schema versions 1–4).
//!
//! Messages are read in timestamp order in batches (keyset pagination on the `timestamp_idx`
//! index rosbag2 creates; row order when a bag has no such index), so memory holds one batch.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, params_from_iter, types::ValueRef};

use crate::error::{BagError, Location, Topics};
use crate::reader::{RawMessage, TopicInfo, TopicTable};

const BATCH: usize = 512;

fn sql_err(path: &Path, e: rusqlite::Error) -> BagError {
    let corrupt = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    );
    if corrupt {
        BagError::Corrupt {
            path: path.to_path_buf(),
            location: Location::Byte(0),
            topics: Topics::default(),
            reason: format!("sqlite3: {e}"),
        }
    } else {
        BagError::Sqlite {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// A zstd-compressed `.db3.zstd` decompressed to a temporary file, deleted on drop.
struct TempDb {
    path: PathBuf,
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn decompress_to_temp(path: &Path) -> Result<TempDb, BagError> {
    let tmp = std::env::temp_dir().join(format!(
        "mbarl-bag-{}-{}.db3",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let input = std::fs::File::open(path).map_err(|e| BagError::io(path, e))?;
    let mut output = std::fs::File::create(&tmp).map_err(|e| BagError::io(&tmp, e))?;
    let guard = TempDb { path: tmp };
    zstd::stream::copy_decode(input, &mut output).map_err(|e| BagError::Corrupt {
        path: path.to_path_buf(),
        location: Location::Byte(0),
        topics: Topics::default(),
        reason: format!("zstd file decompression failed: {e}"),
    })?;
    Ok(guard)
}

fn open_db(path: &Path) -> Result<Connection, BagError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_err(path, e))?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('messages', 'topics')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| sql_err(path, e))?;
    if tables != 2 {
        return Err(BagError::NotABag {
            path: path.to_path_buf(),
            reason: "the database has no `messages` and `topics` tables".into(),
        });
    }
    Ok(conn)
}

fn columns(conn: &Connection, table: &str) -> Vec<String> {
    let Ok(mut stmt) = conn.prepare(&format!("PRAGMA table_info({table})")) else {
        return Vec::new();
    };
    stmt.query_map([], |r| r.get::<_, String>(1))
        .map(|rows| rows.filter_map(|r| r.ok()).collect())
        .unwrap_or_default()
}

fn read_topics(
    conn: &Connection,
    path: &Path,
    table: &TopicTable,
) -> Result<Vec<(i64, TopicInfo)>, BagError> {
    let cols = columns(conn, "topics");
    let has_qos = cols.iter().any(|c| c == "offered_qos_profiles");
    let mut defs: HashMap<String, String> = HashMap::new();
    if columns(conn, "message_definitions").len() >= 3 {
        let mut stmt = conn
            .prepare("SELECT topic_type, encoded_message_definition FROM message_definitions")
            .map_err(|e| sql_err(path, e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| sql_err(path, e))?;
        for row in rows {
            let (t, d) = row.map_err(|e| sql_err(path, e))?;
            defs.insert(t, d);
        }
    }
    let sql = if has_qos {
        "SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics ORDER BY id"
    } else {
        "SELECT id, name, type, serialization_format, '' FROM topics ORDER BY id"
    };
    let mut stmt = conn.prepare(sql).map_err(|e| sql_err(path, e))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            ))
        })
        .map_err(|e| sql_err(path, e))?;
    let mut out = Vec::new();
    let mut counts: HashMap<i64, u64> = HashMap::new();
    if let Ok(mut c) = conn.prepare("SELECT topic_id, count(*) FROM messages GROUP BY topic_id")
        && let Ok(rows) = c.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
    {
        for (id, n) in rows.flatten() {
            counts.insert(id, n.max(0) as u64);
        }
    }
    for row in rows {
        let (id, name, ty, fmt, qos) = row.map_err(|e| sql_err(path, e))?;
        let def = defs.get(&ty).map(String::as_str);
        let mut info = (*table.topic_info(&name, &ty, &fmt, def, Some(&qos))).clone();
        if info.message_count.is_none() {
            info.message_count = counts.get(&id).copied();
        }
        out.push((id, info));
    }
    Ok(out)
}

/// The topics of one `.db3` file.
pub(crate) fn topics(
    path: &Path,
    zstd: bool,
    table: &TopicTable,
) -> Result<Vec<TopicInfo>, BagError> {
    let tmp = if zstd {
        Some(decompress_to_temp(path)?)
    } else {
        None
    };
    let conn = open_db(tmp.as_ref().map(|t| t.path.as_path()).unwrap_or(path))
        .map_err(|e| rename(e, path))?;
    Ok(read_topics(&conn, path, table)?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// Errors about a temporary decompressed copy name the bag's file instead.
fn rename(e: BagError, path: &Path) -> BagError {
    match e {
        BagError::Corrupt {
            location,
            topics,
            reason,
            ..
        } => BagError::Corrupt {
            path: path.to_path_buf(),
            location,
            topics,
            reason,
        },
        BagError::NotABag { reason, .. } => BagError::NotABag {
            path: path.to_path_buf(),
            reason,
        },
        BagError::Sqlite { reason, .. } => BagError::Sqlite {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

pub(crate) struct SqliteFile {
    path: Arc<Path>,
    conn: Connection,
    _tmp: Option<TempDb>,
    topics: HashMap<i64, Arc<TopicInfo>>,
    topic_ids: Option<Vec<i64>>,
    by_timestamp: bool,
    last: Option<(i64, i64)>,
    batch: VecDeque<Result<RawMessage, BagError>>,
    done: bool,
    total_rows: i64,
    rows_read: i64,
    message_zstd: bool,
}

impl SqliteFile {
    pub(crate) fn open(
        path: &Path,
        zstd: bool,
        message_zstd: bool,
        table: &TopicTable,
        filter: Option<Arc<HashSet<String>>>,
    ) -> Result<Self, BagError> {
        let tmp = if zstd {
            Some(decompress_to_temp(path)?)
        } else {
            None
        };
        let db_path = tmp
            .as_ref()
            .map(|t| t.path.clone())
            .unwrap_or_else(|| path.to_path_buf());
        let conn = open_db(&db_path).map_err(|e| rename(e, path))?;
        let topics: HashMap<i64, Arc<TopicInfo>> = read_topics(&conn, path, table)?
            .into_iter()
            .map(|(id, t)| (id, Arc::new(t)))
            .collect();
        let topic_ids = filter.map(|f| {
            topics
                .iter()
                .filter(|(_, t)| f.contains(&t.name))
                .map(|(id, _)| *id)
                .collect::<Vec<_>>()
        });
        let by_timestamp: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages' AND sql LIKE '%timestamp%'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .unwrap_or(false);
        let total_rows = conn
            .query_row("SELECT max(id) FROM messages", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .ok()
            .flatten()
            .unwrap_or(0);
        Ok(Self {
            path: Arc::from(path),
            conn,
            _tmp: tmp,
            topics,
            topic_ids,
            by_timestamp,
            last: None,
            batch: VecDeque::new(),
            done: false,
            total_rows,
            rows_read: 0,
            message_zstd,
        })
    }

    pub(crate) fn progress(&self, size: u64) -> u64 {
        if self.total_rows <= 0 {
            return 0;
        }
        (size as f64 * (self.rows_read as f64 / self.total_rows as f64).min(1.0)) as u64
    }

    fn fetch(&mut self) -> Result<(), BagError> {
        let mut sql = String::from("SELECT id, topic_id, timestamp, data FROM messages WHERE 1");
        let mut args: Vec<i64> = Vec::new();
        if let Some((ts, id)) = self.last {
            if self.by_timestamp {
                sql.push_str(" AND (timestamp, id) > (?, ?)");
                args.extend([ts, id]);
            } else {
                sql.push_str(" AND id > ?");
                args.push(id);
            }
        }
        if let Some(ids) = &self.topic_ids {
            if ids.is_empty() {
                self.done = true;
                return Ok(());
            }
            sql.push_str(&format!(
                " AND topic_id IN ({})",
                ids.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        sql.push_str(if self.by_timestamp {
            " ORDER BY timestamp, id"
        } else {
            " ORDER BY id"
        });
        sql.push_str(&format!(" LIMIT {BATCH}"));
        let path = self.path.clone();
        let row_err = |e: rusqlite::Error| sql_err(&path, e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(row_err)?;
        let mut rows = stmt.query(params_from_iter(args.iter())).map_err(row_err)?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(row_err)? {
            n += 1;
            let id: i64 = row.get(0).map_err(row_err)?;
            let topic_id: Option<i64> = row.get(1).ok();
            let ts: Option<i64> = row.get(2).ok();
            self.last = Some((ts.unwrap_or(i64::MIN), id));
            self.rows_read = self.rows_read.max(id);
            let corrupt = |topics: Topics, reason: String| BagError::Corrupt {
                path: path.to_path_buf(),
                location: Location::Row(id),
                topics,
                reason,
            };
            let Some(topic) = topic_id.and_then(|t| self.topics.get(&t)).cloned() else {
                self.batch.push_back(Err(corrupt(
                    Topics::default(),
                    format!(
                        "row refers to topic id {topic_id:?}, which the topics table does not have"
                    ),
                )));
                continue;
            };
            let Some(ts) = ts.filter(|t| *t >= 0) else {
                self.batch.push_back(Err(corrupt(
                    Topics(vec![topic.name.clone()]),
                    "row has no valid timestamp".into(),
                )));
                continue;
            };
            let data = match row.get_ref(3) {
                Ok(ValueRef::Blob(b)) => b,
                Ok(other) => {
                    self.batch.push_back(Err(corrupt(
                        Topics(vec![topic.name.clone()]),
                        format!("message data is {:?}, not a blob", other.data_type()),
                    )));
                    continue;
                }
                Err(e) => return Err(row_err(e)),
            };
            let data = if self.message_zstd {
                match zstd::stream::decode_all(data) {
                    Ok(d) => d,
                    Err(e) => {
                        self.batch.push_back(Err(corrupt(
                            Topics(vec![topic.name.clone()]),
                            format!("zstd message decompression failed: {e}"),
                        )));
                        continue;
                    }
                }
            } else {
                data.to_vec()
            };
            self.batch.push_back(Ok(RawMessage {
                topic,
                log_time: ts as u64,
                publish_time: ts as u64,
                data: data.into(),
                file: path.clone(),
                location: Location::Row(id),
            }));
        }
        if n < BATCH {
            self.done = true;
        }
        Ok(())
    }

    pub(crate) fn next_message(&mut self) -> Option<Result<RawMessage, BagError>> {
        loop {
            if let Some(m) = self.batch.pop_front() {
                return Some(m);
            }
            if self.done {
                return None;
            }
            if let Err(mut e) = self.fetch() {
                self.done = true;
                if let BagError::Corrupt { location, .. } = &mut e {
                    *location = Location::Row(self.last.map(|l| l.1 + 1).unwrap_or(1));
                }
                return Some(Err(e));
            }
        }
    }
}
