-- wrk script: GET /api/search for each query of $QUERIES (one URL-encoded query per line), in
-- turn, in mode $MODE. Counts non-200 answers so the run can report errors.
local queries = {}
for line in io.lines(os.getenv("QUERIES")) do
  queries[#queries + 1] = line
end
local mode = os.getenv("MODE") or "hybrid"
local path = os.getenv("SEARCH_PATH") or "/api/search"
local i = 0

function init(args)
  -- Threads start at different queries.
  i = math.random(#queries)
end

function request()
  i = i % #queries + 1
  return wrk.format("GET", path .. "?mode=" .. mode .. "&limit=10&q=" .. queries[i])
end
