// node-redis (Debian's node-redis 4.x) in its default configuration: node client.js PORT [PASSWORD]
const { createClient } = require('redis');
(async () => {
  const [port, password] = process.argv.slice(2);
  const client = createClient({ url: `redis://127.0.0.1:${port}`, password });
  client.on('error', (e) => console.log('connection error:', e.message));
  await client.connect();
  const out = (...parts) => console.log(parts.join(' '));
  out('get', await client.get('user_sessions:1'));
  out('set', await client.set('user_sessions:2', 'written by node'));
  const piped = await Promise.all([client.get('user_sessions:2'), client.exists('user_sessions:3')]);
  out('pipeline', JSON.stringify(piped));
  out('multi', JSON.stringify(await client.multi().set('user_sessions:3', 'node tx').get('user_sessions:3').exec()));
  try {
    await client.multi().set('user_sessions:4', 'never').addCommand(['NOSUCHCOMMAND']).exec();
    out('aborted', 'no error');
  } catch (e) {
    out('aborted', e.message.split(',')[0]);
  }
  try {
    await client.get('nope:1');
    out('error', 'none');
  } catch (e) {
    out('error', e.message.split(':')[0]);
  }
  out('query', JSON.stringify(await client.sendCommand(['QUERY', 'SELECT data FROM user_sessions WHERE id = ?', '3'])));
  await client.quit();
})().catch((e) => { console.log('failed:', e.message); process.exit(1); });
