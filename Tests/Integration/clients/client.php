<?php
// phpredis (php-redis) in its default configuration: php client.php PORT [PASSWORD]
$port = (int)$argv[1];
$r = new Redis();
$r->connect('127.0.0.1', $port);
if (isset($argv[2])) { echo 'auth ', var_export($r->auth($argv[2]), true), "\n"; }
echo 'get ', $r->get('user_sessions:1'), "\n";
echo 'set ', var_export($r->set('user_sessions:2', 'written by php'), true), "\n";
echo 'pipeline ', json_encode($r->pipeline()->get('user_sessions:2')->exists('user_sessions:3')->exec()), "\n";
echo 'multi ', json_encode($r->multi()->set('user_sessions:3', 'php tx')->get('user_sessions:3')->exec()), "\n";
// phpredis can't queue a raw command in MULTI (it hangs on real Redis too): a key of no type fails at EXEC.
try {
    $aborted = $r->multi()->set('user_sessions:4', 'never')->set('nope:1', 'x')->exec();
    echo 'aborted no error ', json_encode($aborted), "\n";
} catch (RedisException $e) {
    echo 'aborted ', explode(',', $e->getMessage())[0], "\n";
}
// phpredis answers false for an error reply and keeps the error as the last error.
$value = $r->get('nope:1');
echo 'error ', $value === false ? explode(':', (string)$r->getLastError())[0] : 'none', "\n";
echo 'query ', json_encode($r->rawCommand('QUERY', 'SELECT data FROM user_sessions WHERE id = ?', '3')), "\n";
