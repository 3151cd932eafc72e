// Every bound in the system, named once, units last. A limit that is not here does not exist.

/** Largest request body any server reads; past it the reply is 413 and the connection closes. */
export const REQUEST_BODY_BYTES_MAX = 16 * 1024;
/** Most stocks a catalog's list may hold, as its readers accept it. */
export const STOCKS_LISTED_MAX = 10_000;
/** Longest stock name; the catalog refuses to load longer ones, the API answers 404 for them. */
export const STOCK_NAME_LENGTH_MAX = 64;
/** Largest quantity in one trade; larger ones are refused with 400 before any state is touched. */
export const TRADE_QUANTITY_MAX = 1_000_000;
/** Longest Idempotency-Key header value accepted. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 128;
/** Longest name of the frontend a trade came through (its host:port), as the leader and the catalog accept it. */
export const ORIGIN_LENGTH_MAX = 256;

/** Time a server waits for a client to send the complete request headers. */
export const SERVER_HEADERS_TIMEOUT_MS = 5_000;
/** Time a server waits for a client to send a complete request, body included. */
export const SERVER_REQUEST_TIMEOUT_MS = 10_000;
/** Time an idle keep-alive connection is held open by a server. */
export const SERVER_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Time a closing server lets in-flight requests finish before cutting their connections. */
export const SERVER_DRAIN_TIMEOUT_MS = 3_000;

/** Time any internal call may take before the caller gives up on it. */
export const UPSTREAM_REQUEST_TIMEOUT_MS = 2_000;
/** Time a replica has to answer a health ping before the frontend passes it over as leader. */
export const LEADER_PING_TIMEOUT_MS = 300;
/** A leader that stopped answering is suspect this long (it is gone or hung): the frontend's pings wait for it only briefly. */
export const LEADER_SUSPECT_MS = 2_000;
/** How long the frontend's pings wait for a suspect's answer once every other replica has answered. */
export const LEADER_SUSPECT_GRACE_MS = 20;
/** A frontend whose choice another frontend's election overtook looks this many times for that leader… */
export const LEADER_FOLLOW_ATTEMPTS_MAX = 10;
/** …this far apart, before it runs an election of its own. */
export const LEADER_FOLLOW_WAIT_MS = 50;
/** A frontend that found no leader to choose at start tries again after this long, until one leads. */
export const LEADER_START_RETRY_MS = 1_000;
/** How often, at most, a frontend looks in on its leader when the catalog says it waits for the order log. */
export const LEADER_CHECK_MS = 500;
/** How much longer than a role's start `admin recover` waits for up's answer. */
export const RECOVER_REPLY_MARGIN_MS = 5_000;
/** Time `bazaar admin` gives a role to answer a health check or a crash request. */
export const ADMIN_CALL_TIMEOUT_MS = 3 * LEADER_PING_TIMEOUT_MS;
/** Connections each keep-alive pool opens to one upstream at most. */
export const UPSTREAM_CONNECTIONS_MAX = 32;
/** Connections for control traffic kept apart from the requests it steers (the frontend's pings and leader notices). */
export const CONTROL_CONNECTIONS_MAX = 2;
/** Connections for one-off calls (admin commands, a returning replica's health probes). */
export const ONE_OFF_CONNECTIONS_MAX = 1;
/** An idle pooled connection to an upstream is closed after this long (below the servers' SERVER_KEEP_ALIVE_TIMEOUT_MS, so the client, not the server, closes it). */
export const UPSTREAM_KEEP_ALIVE_MS = 4_000;
/** Largest JSON reply body the HTTP client accepts from an upstream. */
export const UPSTREAM_BODY_BYTES_MAX = 4 * 1024 * 1024;

/** How often a link checks its open calls against their deadlines (one timer per link, not one per call). */
export const LINK_DEADLINE_CHECK_MS = 10;
/** A link with calls open that has heard nothing from its peer this long sends a probe… */
export const LINK_PROBE_AFTER_MS = 100;
/** …and this long, gives the peer up as hung: every open call fails at once (G6: a hung leader costs a few hundred ms). */
export const LINK_SILENCE_MAX_MS = 300;
/** Largest frame a link accepts (a reply or a request, route and body included); a larger one closes the link. */
export const LINK_FRAME_BYTES_MAX = UPSTREAM_BODY_BYTES_MAX;
/** What a request frame carries besides its body (call number, method, path), as a route's body limit allows for it. */
export const LINK_REQUEST_OVERHEAD_BYTES = 1_024;
/** Idle time after which TCP keep-alive probes a link's peer, so a link to a host that vanished is found dead. */
export const LINK_KEEP_ALIVE_MS = 5_000;

/** Records one group commit writes and fsyncs together at most. */
export const APPEND_BATCH_RECORDS_MAX = 1_024;
/** Records waiting for a group commit at most; past it appends are refused (back-pressure). */
export const APPEND_QUEUE_RECORDS_MAX = 16_384;
/** Longest line accepted when a JSONL file is read back; a longer one is corruption. */
export const JSONL_LINE_BYTES_MAX = 64 * 1024;
/** Bytes read at a time when a JSONL file is read through on open. */
export const JSONL_SCAN_CHUNK_BYTES = 1024 * 1024;

/** Slots of a new key index (16 bytes each); it doubles whenever half are used. */
export const KEY_INDEX_INITIAL_SLOTS = 1_024;
/** Slots of the old table a growing key index copies per turn of the event loop (about 1 ms of work). */
export const KEY_INDEX_GROW_STEP_SLOTS = 4_096;
/** Records appended between two checkpoints of a key index: at most this many are re-indexed after a crash. */
export const KEY_INDEX_CHECKPOINT_RECORDS = 16_384;
/** Records per block of a journal's sparse offset table: a read of an old record reads one block from disk. */
export const JOURNAL_BLOCK_RECORDS = 64;
/** Decoded blocks of old records a journal keeps (catch-up and reconciliation read runs of them). */
export const JOURNAL_CACHED_BLOCKS = 8;
/** Most recent records a journal keeps parsed in memory (replication and recent lookups read these). */
export const JOURNAL_RECENT_RECORDS = 4_096;

/** A lock file not refreshed for this long is stale and may be taken over (proper-lockfile minimum). */
export const LOCK_STALE_MS = 2_000;
/** How often a held lock file is refreshed. */
export const LOCK_UPDATE_MS = 1_000;
/** Attempts (500 ms apart) to take a lock another process holds; together they outlast LOCK_STALE_MS, so even a holder that cannot be identified as dead (another host, no owner record) is waited out. */
export const LOCK_RETRIES_MAX = 12;

/** Time `bazaar up` waits for a child role to answer its health check after starting. */
export const CHILD_READY_TIMEOUT_MS = 15_000;
/** `bazaar up` gives a child this long to answer one health check while it waits for it. */
export const UP_HEALTH_TIMEOUT_MS = 500;
/** Time `bazaar up` gives children to stop after SIGTERM before it sends SIGKILL. */
export const CHILD_STOP_GRACE_MS = 5_000;
/** `bazaar up` restarts a role killed by a signal at once, then after this, doubling while it keeps dying… */
export const RESTART_BACKOFF_MS_MIN = 100;
/** …up to this between attempts. */
export const RESTART_BACKOFF_MS_MAX = 5_000;
/**
 * A role that ran this long before it died is restarted at once again (its earlier deaths are
 * forgotten); one that dies sooner is in a crash loop, and waits longer each time.
 */
export const RESTART_STABLE_MS = 2_000;
/** Lines of a child's output `bazaar up` keeps, to quote the reason when it fails to start. */
export const CHILD_OUTPUT_TAIL_LINES = 5;

/** Attempts the client makes for one request while the service is unavailable (a trade keeps its idempotency key). */
export const CLIENT_ATTEMPTS_MAX = 8;
/** Longest pause between two client attempts, whatever Retry-After says. */
export const CLIENT_RETRY_DELAY_MS_MAX = 1_000;
/** Concurrent client sessions at most. */
export const CLIENT_SESSIONS_MAX = 256;
/** Iterations per client session at most. */
export const CLIENT_ITERATIONS_MAX = 10_000_000;
/** Largest Zipf exponent `bazaar client --skew` takes: at 8 nearly every choice is the first stock already. */
export const CLIENT_SKEW_MAX = 8;

/** One tick of a replica's clock: its timeouts and retries are counted in ticks of this length. */
export const REPLICA_TICK_MS = 10;
/** Entries one replication or catch-up message carries at most. */
export const REPLICATION_BATCH_ENTRIES_MAX = 2_048;
/** Largest body of a replication message (a full batch of entries fits well inside). */
export const REPLICATION_BODY_BYTES_MAX = 4 * 1024 * 1024;
/** Time a follower has to answer a replication message before the leader stops waiting for it. */
export const REPLICATION_TIMEOUT_MS = 500;
/** Time a peer has to send a batch of entries to a new leader catching up (a full batch read from disk). */
export const CATCH_UP_TIMEOUT_MS = 4 * REPLICATION_TIMEOUT_MS;
/** Pause between attempts to reach a follower that is down or behind. */
export const REPLICATION_RETRY_MS = 100;
/** Time an order waits for a majority of replicas to hold it before the leader answers 503. */
export const COMMIT_TIMEOUT_MS = 1_500;
/** Time a new leader has to bring a majority up to its starting log before it gives up the epoch. */
export const ELECTION_TIMEOUT_MS = 10_000;
/** Characters in a cluster's name at most (the config's `cluster`, written on every replica's disk). */
export const CLUSTER_NAME_MAX = 64;
/** Pause before a recovering replica asks its peers again where the cluster stands (too few answered, or no leader serves). */
export const RECOVERY_RETRY_MS = 500;
/** A recovering replica copying the leader's log that hears nothing from it for this long asks its peers again. */
export const RECOVERY_STALL_MS = 3_000;
/** A candidate that a majority has joined waits this long for the other peers' polls, no longer (a hung one must not hold the election). */
export const ELECTION_POLL_GRACE_MS = 50;
/** Time the frontend waits for a trade or order query at the leader before it fails over. */
export const ORDER_CALL_TIMEOUT_MS = 3_000;
/** Attempts the frontend makes for one request across leader failovers (same idempotency key). */
export const FAILOVER_ATTEMPTS_MAX = 6;
/** Pause before the frontend retries when no majority of replicas is reachable. */
export const FAILOVER_RETRY_DELAY_MS = 100;

/** How long a frontend may serve from its cache after a message from the catalog, at most. */
export const CACHE_LEASE_MS = 500;
/** How often the catalog tells an idle frontend that nothing changed (renewing its lease). */
export const CACHE_HEARTBEAT_MS = 100;
/** Clock difference between catalog and frontend hosts that leases allow for. */
export const CACHE_CLOCK_SKEW_MS_MAX = 100;
/** Stocks one push from the catalog may name at most (a first push names every stock). */
export const PUSH_INVALIDATIONS_MAX = 100_000;
/** Time a frontend has to acknowledge an invalidation before the catalog stops waiting for it. */
export const INVALIDATION_TIMEOUT_MS = 200;

/** How often a serving leader with nothing to send looks in on the catalog (a restarted one is level with the log again within this). */
export const CATALOG_LOOK_IN_MS = 100;
/** Approvals the leader asks of the catalog for one trade at most (a restarted catalog is asked again) before it answers 503. */
export const CATALOG_APPROVE_ASKS_MAX = 4;
/** Time the catalog holds an approval or a lookup while it applies the entries it needs first. */
export const CATALOG_CATCH_UP_WAIT_MS = 1_000;
/** Longest the catalog goes without writing a checkpoint while orders are applied (the write is off the trade's path). */
export const CATALOG_CHECKPOINT_MS = 1_000;
/** How often, at most, a catalog rebuilding from the order log says how far it has got. */
export const CATALOG_PROGRESS_EVERY_MS = 1_000;

/** How often a server checks its connections against the header and request timeouts. */
export const SERVER_TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** A socket with no traffic for this long is closed, a connection that never sent a byte included (longer than any legitimate request). */
export const SERVER_SOCKET_IDLE_TIMEOUT_MS = 30_000;
/** Connections one server holds at most; past it new ones are dropped at once. */
export const SERVER_CONNECTIONS_MAX = 8_192;
/** Requests the frontend works on at once; past it new ones get 503 with Retry-After at once. Every request holds at most one upstream call, so this bounds the queues behind it too. */
export const FRONTEND_IN_FLIGHT_MAX = 1_024;
/** The same bound for internal servers (catalog, replicas): above what a frontend at its bound sends them. */
export const SERVER_IN_FLIGHT_MAX = 4_096;

/** Upper bounds (seconds) of the request-duration histogram every role exports: 0.1 ms to 4 s, doubling. */
export const REQUEST_DURATION_BUCKETS_S: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 4]);

// ---- Dashboard -------------------------------------------------------------------------------------
/**
 * How often the dashboard reads every role's health and metrics while a page watches, and streams
 * it. Once a second: live to the eye, and half what a page drawing twice a second cost the lab's
 * lookups when it ran on the cluster's own 2-core machine (bench:dashboard).
 */
export const DASHBOARD_SAMPLE_MS = 1_000;
/** The same while no page watches: the timeline and charts keep going, at a fifth of the cost. */
export const DASHBOARD_IDLE_SAMPLE_MS = 5_000;
/** A role that has not answered a dashboard read within this is shown down (a hung role included). */
export const DASHBOARD_SCRAPE_TIMEOUT_MS = 400;
/** Chart points kept: 10 minutes at one point per sample while a page watches. */
export const DASHBOARD_POINTS_MAX = 600;
/** Timeline events kept, newest last. */
export const DASHBOARD_EVENTS_MAX = 300;
/** Pages streaming at once; one more is refused with 503. */
export const DASHBOARD_STREAMS_MAX = 32;
/** Order-log entries read per sample for the conservation check (a long log is counted over several samples). */
export const DASHBOARD_ENTRIES_PER_SAMPLE_MAX = 20_000;
/** Longest hang the page may ask for (SIGSTOP, then SIGCONT). */
export const DASHBOARD_HANG_MS_MAX = 30_000;
/** Largest load the page may start. */
export const DASHBOARD_LOAD_SESSIONS_MAX = 32;
export const DASHBOARD_LOAD_ITERATIONS_MAX = 100_000;
/** Bytes a page's stream may leave unread before the dashboard drops it (a stalled tab). */
export const DASHBOARD_STREAM_BUFFER_BYTES_MAX = 1024 * 1024;
/**
 * Orders a follower may trail the leader by in one dashboard reading and still show as in sync: the
 * two health reads are not at one instant, and under load appends are always on their way.
 */
export const DASHBOARD_IN_SYNC_LAG_MAX = 64;

// ---- Bounds that were written where they were used, now named here --------------------------------

/** How often `bazaar up` looks whether a starting role answers, and whether the frontends agree on a leader. */
export const CHILD_READY_POLL_MS = 50;
/** How often `bazaar admin crash` looks whether the replica it crashed has stopped answering. */
export const ADMIN_CRASH_POLL_MS = 20;
/** Error and mismatch messages the client keeps as samples for its report. */
export const CLIENT_ERROR_SAMPLES_MAX = 20;
/** The client's first pause before a retry; it doubles with each attempt, up to CLIENT_RETRY_DELAY_MS_MAX. */
export const CLIENT_RETRY_DELAY_MS_MIN = 50;
/** Longest client run by --duration: a day. */
export const CLIENT_DURATION_S_MAX = 86_400;
/** Cache entries when the config says nothing. */
export const CACHE_ENTRIES_DEFAULT = 100;
/** Most cache entries the config or --cache-size may ask for. */
export const CACHE_ENTRIES_MAX = 1_000_000;
/** Largest replica id the config and --id accept. */
export const REPLICA_ID_MAX = 1_000_000;
/** Most frontends a config may list (--index runs from 1 to this). */
export const FRONTENDS_MAX = 1_000;

/** A TLS handshake not finished in this long is cut: a slow or silent client cannot hold a socket in the handshake (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
/** A role logs one line per kind of refused TLS peer at most this often (a scan or a misconfigured peer would otherwise flood its log). */
export const TLS_REFUSAL_LOG_INTERVAL_MS = 10_000;
/** `bazaar certs`: how long the cluster CA is valid by default, in days (CockroachDB's default too). */
export const CERT_CA_DAYS_DEFAULT = 3_650;
/** `bazaar certs`: how long a role's certificate is valid by default, in days. */
export const CERT_ROLE_DAYS_DEFAULT = 365;
/** `bazaar certs --days`: the longest a certificate may be made for. */
export const CERT_DAYS_MAX = 36_500;
