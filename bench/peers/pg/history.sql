-- pgbench script: a history page, the latest 50 messages of a random room
-- (primary-key range scan, newest first). Variables: rooms (-D rooms=N).
\set room random(1, :rooms)
SELECT room, seq, sender, text, created_at
  FROM messages WHERE room = :room ORDER BY seq DESC LIMIT 50;
