-- The PostgreSQL peer's data model: what chatd does for a message, the way
-- one would write it with a relational database. A room's next sequence
-- number comes from its row (row lock, no gaps); messages are keyed by
-- (room, seq), so the latest page of a room is one primary-key range scan.
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS rooms;
CREATE TABLE rooms (
    id       integer PRIMARY KEY,
    last_seq bigint  NOT NULL DEFAULT 0
);
CREATE TABLE messages (
    room       integer     NOT NULL,
    seq        bigint      NOT NULL,
    sender     text        NOT NULL,
    text       text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (room, seq)
);
INSERT INTO rooms (id) SELECT g FROM generate_series(1, :rooms) AS g;
