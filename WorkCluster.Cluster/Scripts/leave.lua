#!lua flags=allow-oom
-- leave: a node stops; its key and its index entry go at once.
-- KEYS[1] the node's key   KEYS[2] nodes index (zset)
-- ARGV[1] node id

redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
