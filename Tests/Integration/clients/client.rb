# The redis gem (ruby-redis) in its default configuration: ruby client.rb PORT [PASSWORD]
require 'redis'
require 'json'
port, password = ARGV
r = Redis.new(host: '127.0.0.1', port: port.to_i, password: password)
puts "get #{r.get('user_sessions:1')}"
puts "set #{r.set('user_sessions:2', 'written by ruby')}"
puts "pipeline #{JSON.generate(r.pipelined { |p| p.get('user_sessions:2'); p.exists('user_sessions:3') })}"
puts "multi #{JSON.generate(r.multi { |tx| tx.set('user_sessions:3', 'ruby tx'); tx.get('user_sessions:3') })}"
begin
  r.multi { |tx| tx.set('user_sessions:4', 'never'); tx.call('NOSUCHCOMMAND') }
  puts 'aborted no error'
rescue Redis::CommandError => e
  puts "aborted #{e.message.split(',').first}"
end
begin
  r.get('nope:1')
  puts 'error none'
rescue Redis::CommandError => e
  puts "error #{e.message.split(':').first}"
end
puts "query #{JSON.generate(r.call('QUERY', 'SELECT data FROM user_sessions WHERE id = ?', '3'))}"
