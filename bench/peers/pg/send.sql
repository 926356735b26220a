-- pgbench script: one durable message send (synchronous_commit=on): take
-- the room's next seq and insert the message, in one transaction. The text
-- is ~200 bytes like bench/wrk/send.lua's. Variables: rooms (-D rooms=N).
\set room random(1, :rooms)
BEGIN;
UPDATE rooms SET last_seq = last_seq + 1 WHERE id = :room RETURNING last_seq \gset
INSERT INTO messages (room, seq, sender, text, created_at)
  VALUES (:room, :last_seq, 'u_bench_sender',
          'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ' || :client_id || '-' || :last_seq,
          now());
END;
