-- wrk script for scripts/bench-api: authenticated GET /api/v1/trades pages of 100, each from a
-- random cursor over the whole table, so that the run reads all of the database's pages rather
-- than one page the caches keep hot. Environment: SPOTBOT_BENCH_TOKEN (the bearer token),
-- SPOTBOT_BENCH_TRADES (the number of trade ids), SPOTBOT_BENCH_QUERY (extra filters, e.g.
-- "&symbol=ETHUSDT&side=SELL"; empty for none).
local token = os.getenv("SPOTBOT_BENCH_TOKEN")
local trades = tonumber(os.getenv("SPOTBOT_BENCH_TRADES"))
local extra = os.getenv("SPOTBOT_BENCH_QUERY") or ""
local headers = { ["Authorization"] = "Bearer " .. token }

-- Each wrk thread has its own Lua state: seed each differently.
function setup(thread)
   thread:set("seed", math.random(1, 2147483647))
end

function init(args)
   math.randomseed(seed or os.time())
end

function request()
   -- Cursor 0 is no cursor: the first page.
   local cursor = math.random(0, math.max(trades - 100, 0))
   local path = "/api/v1/trades?limit=100" .. extra
   if cursor > 0 then
      path = path .. "&cursor=" .. cursor
   end
   return wrk.format("GET", path, headers)
end
