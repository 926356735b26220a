-- Loads the history data set: :per_room messages in each of :rooms rooms,
-- ~200-byte texts, then the rooms' last_seq, statistics and a checkpoint.
TRUNCATE messages;
INSERT INTO messages (room, seq, sender, text, created_at)
  SELECT r, s, 'u_bench_sender', repeat('x', 160) || ' ' || s,
         now() - (:per_room - s) * interval '1 second'
    FROM generate_series(1, :rooms) AS r, generate_series(1, :per_room) AS s;
UPDATE rooms SET last_seq = :per_room;
VACUUM ANALYZE messages;
VACUUM ANALYZE rooms;
CHECKPOINT;
