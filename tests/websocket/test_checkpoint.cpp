// Checkpoint files (issue 11, docs/state-format.md "Checkpoint files"): streams and their pipeline
// states round-trip; generations are written atomically and the newest `keep` kept; a truncated,
// corrupted or misnamed newest generation is reported by file name and the previous one is used;
// missing and empty directories, leftover temporary files, unwritable paths, the background writer;
// the server's checkpoint_runner (slices between io events, the checkpoint at stop, skipped streams).
#include <streamstats/websocket/checkpoint.hpp>
#include <streamstats/websocket/checkpoint_runner.hpp>
#include <streamstats/websocket/pipeline_spec.hpp>
#include <streamstats/websocket/registry.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ws = streamstats::websocket;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system's temporary directory, removed at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string templ = (fs::temp_directory_path() / "streamstats-ckpt-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

std::string stats_text(const ws::pipeline& p) {
  std::string out;
  ws::json_writer w(out);
  w.begin_object();
  ws::stats_writer sw(w);
  p.write_stats(sw);
  w.end_object();
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// `n` default pipelines fed different data; stream i is "s<i>" with count i·37 + 1.
struct fleet {
  std::vector<std::string> names;
  std::vector<std::unique_ptr<ws::default_pipeline>> pipes;
  std::vector<ws::checkpoint_counters> counters;
  explicit fleet(std::size_t n, std::uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(50.0, 5.0);
    for (std::size_t i = 0; i < n; ++i) {
      names.push_back("s" + std::to_string(i));
      pipes.push_back(std::make_unique<ws::default_pipeline>());
      ws::checkpoint_counters c;
      c.count = i * 37 + 1;
      c.rejected = i % 3;
      for (std::uint64_t k = 0; k < c.count; ++k) {
        ws::alert_info a;
        c.last = noise(rng);
        pipes.back()->push(c.last, a);
      }
      c.t = 1.7e9 + static_cast<double>(i);
      counters.push_back(c);
    }
  }
  [[nodiscard]] std::string bytes() const {
    ws::checkpoint_builder b;
    for (std::size_t i = 0; i < names.size(); ++i) {
      b.add(names[i], counters[i], *pipes[i]);
    }
    return b.take();
  }
  // Every stream of `d` matches this fleet: names, counters, and pipelines that load to the same stats.
  void check(const ws::checkpoint_data& d) const {
    REQUIRE(d.streams.size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const auto& e = d.streams[i];
      CHECK(e.name == names[i]);
      CHECK(e.counters.count == counters[i].count);
      CHECK(e.counters.rejected == counters[i].rejected);
      CHECK(e.counters.last == counters[i].last);
      CHECK(e.counters.t == counters[i].t);
      ws::default_pipeline p;
      p.load_state(e.state);
      CHECK(stats_text(p) == stats_text(*pipes[i]));
    }
  }
};

}  // namespace

TEST_CASE("a checkpoint's streams, counters and pipeline states round-trip through its bytes") {
  const fleet f(40);
  std::string bytes = f.bytes();
  ws::finish_checkpoint(bytes, 7);
  const auto d = ws::parse_checkpoint(std::make_shared<const std::string>(bytes));
  CHECK(d.generation == 7);
  f.check(d);

  // Empty checkpoint: header and CRC only.
  ws::checkpoint_builder empty;
  std::string e = empty.take();
  CHECK(e.size() == 44);
  ws::finish_checkpoint(e, 1);
  CHECK(ws::parse_checkpoint(std::make_shared<const std::string>(e)).streams.empty());
}

TEST_CASE("damaged checkpoint bytes are refused with what is wrong") {
  const fleet f(5);
  std::string good = f.bytes();
  ws::finish_checkpoint(good, 3);
  auto why = [](const std::string& b) -> std::string {
    try {
      (void)ws::parse_checkpoint(std::make_shared<const std::string>(b));
    } catch (const ws::checkpoint_error& e) {
      return e.what();
    }
    return "accepted";
  };
  CHECK_THAT(why(""), Catch::Matchers::Contains("empty file"));
  CHECK_THAT(why(good.substr(0, 30)), Catch::Matchers::Contains("truncated"));
  CHECK_THAT(why(good.substr(0, good.size() - 1)), Catch::Matchers::Contains("truncated"));
  CHECK_THAT(why(good + "zz"), Catch::Matchers::Contains("trailing bytes"));
  CHECK_THAT(why("XSCK" + good.substr(4)), Catch::Matchers::Contains("not a streamstats checkpoint"));
  std::string v2 = good;
  v2[4] = 2;
  CHECK_THAT(why(v2), Catch::Matchers::Contains("version 2"));
  // A flipped bit anywhere: the length field reads as truncated or trailing, elsewhere the CRC.
  for (std::size_t i = 0; i < good.size(); i += 1 + i / 8) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    INFO("byte " << i);
    const std::string w = why(bad);
    CHECK(w != "accepted");
    if (i >= 16) {
      CHECK_THAT(w, Catch::Matchers::Contains("corrupted"));
    }
  }
  // Internally inconsistent but correctly checksummed: a repeated name.
  ws::checkpoint_builder b;
  b.add("a", {}, std::string_view("x"));
  b.add("a", {}, std::string_view("y"));
  std::string dup = b.take();
  ws::finish_checkpoint(dup, 1);
  CHECK_THAT(why(dup), Catch::Matchers::Contains("repeated name"));
}

TEST_CASE("generations are written atomically and only the newest two are kept") {
  temp_dir dir;
  ws::checkpoint_store store(dir.path.string());
  for (std::uint64_t g = 1; g <= 4; ++g) {
    const fleet f(3, g);
    const auto r = store.write(f.bytes());
    REQUIRE(r.ok);
    CHECK(r.error.empty());
    CHECK(r.generation == g);
    CHECK(r.path == store.path_of(g));
    CHECK(fs::file_size(r.path) == r.bytes);
  }
  CHECK(store.generations() == std::vector<std::uint64_t>{4, 3});
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    CHECK(e.path().extension() == ".sscp");  // no temporary left behind
    ++files;
  }
  CHECK(files == 2);
  ws::checkpoint_store again(dir.path.string());
  const auto l = again.load();
  REQUIRE(l.found);
  CHECK(l.problems.empty());
  CHECK(l.path == store.path_of(4));
  fleet(3, 4).check(l.data);
  // The next write continues the numbering.
  CHECK(again.write(fleet(1).bytes()).generation == 5);
}

TEST_CASE("a truncated or corrupted newest generation is reported and the previous one is used") {
  enum class damage { truncate, flip_header, flip_middle, flip_last, empty, rename_other };
  for (const damage how : {damage::truncate, damage::flip_header, damage::flip_middle, damage::flip_last,
                           damage::empty, damage::rename_other}) {
    INFO("damage " << static_cast<int>(how));
    temp_dir dir;
    ws::checkpoint_store store(dir.path.string());
    const fleet older(4, 1);
    const fleet newer(6, 2);
    REQUIRE(store.write(older.bytes()).ok);
    REQUIRE(store.write(newer.bytes()).ok);
    const fs::path newest = store.path_of(2);
    std::string b = read_all(newest);
    switch (how) {
      case damage::truncate:
        b.resize(b.size() / 2);
        break;
      case damage::flip_header:
        b[20] = static_cast<char>(b[20] ^ 1);
        break;
      case damage::flip_middle:
        b[b.size() / 2] = static_cast<char>(b[b.size() / 2] ^ 0x40);
        break;
      case damage::flip_last:
        b.back() = static_cast<char>(b.back() ^ 0x80);
        break;
      case damage::empty:
        b.clear();
        break;
      case damage::rename_other:
        break;
    }
    write_all(newest, b);
    if (how == damage::rename_other) {
      // A valid file under another generation's name: refused (its header says generation 2).
      fs::rename(newest, store.path_of(9));
    }
    const std::string bad_path = how == damage::rename_other ? store.path_of(9) : newest.string();

    ws::checkpoint_store reader(dir.path.string());
    const auto l = reader.load(/*set_aside_damaged=*/true);
    REQUIRE(l.found);
    CHECK(l.path == store.path_of(1));
    older.check(l.data);
    REQUIRE(l.problems.size() == 1);
    CHECK_THAT(l.problems[0], Catch::Matchers::StartsWith(bad_path + ": "));
    const char* expected = how == damage::truncate       ? "truncated"
                           : how == damage::empty        ? "empty file"
                           : how == damage::rename_other ? "generation 2"
                                                         : "corrupted";
    CHECK_THAT(l.problems[0], Catch::Matchers::Contains(expected));
    // Set aside, not deleted; not counted as a generation; the next write numbers past it.
    CHECK(fs::exists(bad_path + ".damaged"));
    CHECK(reader.generations() == std::vector<std::uint64_t>{1});
    const auto w = reader.write(newer.bytes());
    REQUIRE(w.ok);
    CHECK(w.generation == (how == damage::rename_other ? 10U : 3U));
    // The fall-back generation survives that write (keep = 2), so a damaged new one would again
    // have a predecessor.
    CHECK(fs::exists(store.path_of(1)));
  }
}

TEST_CASE("every generation damaged: nothing found, every file named") {
  temp_dir dir;
  ws::checkpoint_store store(dir.path.string());
  REQUIRE(store.write(fleet(2, 1).bytes()).ok);
  REQUIRE(store.write(fleet(2, 2).bytes()).ok);
  for (const std::uint64_t g : {std::uint64_t{1}, std::uint64_t{2}}) {
    std::string b = read_all(store.path_of(g));
    b.resize(b.size() - 3);
    write_all(store.path_of(g), b);
  }
  ws::checkpoint_store reader(dir.path.string());
  const auto l = reader.load();
  CHECK_FALSE(l.found);
  REQUIRE(l.problems.size() == 2);
  CHECK_THAT(l.problems[0], Catch::Matchers::Contains(store.path_of(2)));
  CHECK_THAT(l.problems[1], Catch::Matchers::Contains(store.path_of(1)));
  // Without set-aside the files stay where they are.
  CHECK(fs::exists(store.path_of(1)));
}

TEST_CASE("missing and empty directories hold no checkpoint — a write creates the directory") {
  temp_dir dir;
  const fs::path missing = dir.path / "a" / "b";
  ws::checkpoint_store store(missing.string());
  auto l = store.load();
  CHECK_FALSE(l.found);
  CHECK(l.problems.empty());
  CHECK(store.generations().empty());
  const auto w = store.write(fleet(2).bytes());
  REQUIRE(w.ok);
  CHECK(w.generation == 1);
  CHECK(fs::is_directory(missing));

  const fs::path empty = dir.path / "empty";
  fs::create_directory(empty);
  ws::checkpoint_store e(empty.string());
  l = e.load();
  CHECK_FALSE(l.found);
  CHECK(l.problems.empty());

  // Unrelated files and a temporary of an interrupted write are no generations. A plain load only
  // reads (the temporary may be a live writer's, about to be renamed); the owner's recovery,
  // load(true), removes it.
  write_all(empty / "notes.txt", "hello");
  write_all(empty / "checkpoint-00000000000000000007.tmp", "half a checkp");
  write_all(empty / "checkpoint-7.sscp", "bad name");
  l = e.load();
  CHECK_FALSE(l.found);
  CHECK(l.problems.empty());
  CHECK(fs::exists(empty / "checkpoint-00000000000000000007.tmp"));
  l = e.load(true);
  CHECK_FALSE(l.found);
  CHECK(l.problems.empty());
  CHECK_FALSE(fs::exists(empty / "checkpoint-00000000000000000007.tmp"));
  CHECK(fs::exists(empty / "notes.txt"));
}

TEST_CASE("a reader polling a live state directory does not disturb the writer") {
  // A tool or another process may load() the directory of a running server while it writes (the
  // daemon tests do). A plain load must not remove the writer's temporary file between its fsync
  // and its rename: every write succeeds, and the reader reads whole generations meanwhile.
  temp_dir dir;
  ws::checkpoint_store writer(dir.path.string());
  REQUIRE(writer.write(fleet(2, 1).bytes()).ok);
  std::atomic<bool> done{false};
  std::atomic<int> loads{0};
  std::atomic<int> found{0};
  std::thread reader([&] {
    ws::checkpoint_store r(dir.path.string());
    while (!done.load()) {
      const auto l = r.load();
      loads.fetch_add(1);
      if (l.found) {
        found.fetch_add(1);
      }
    }
  });
  int failed = 0;
  std::string first_error;
  for (std::uint64_t g = 2; g <= 60; ++g) {
    const auto w = writer.write(fleet(2, g).bytes());
    if (!w.ok) {
      ++failed;
      if (first_error.empty()) {
        first_error = w.error;
      }
    }
  }
  done = true;
  reader.join();
  INFO(first_error);
  CHECK(failed == 0);
  CHECK(loads.load() > 0);
  CHECK(found.load() > 0);
  const auto last = ws::checkpoint_store(dir.path.string()).load();
  REQUIRE(last.found);
  fleet(2, 60).check(last.data);
}

TEST_CASE("a write that cannot happen reports the step and the reason") {
  temp_dir dir;
  const fs::path file = dir.path / "not-a-directory";
  write_all(file, "x");
  ws::checkpoint_store store(file.string());
  const auto w = store.write(fleet(1).bytes());
  CHECK_FALSE(w.ok);
  CHECK_THAT(w.error, Catch::Matchers::StartsWith("open " + file.string() + "/checkpoint-"));
  CHECK_THAT(w.error, Catch::Matchers::Contains("Not a directory"));
  CHECK_THROWS_AS(store.create_directory(), std::system_error);
}

TEST_CASE("the background writer writes one checkpoint at a time and reports each") {
  temp_dir dir;
  ws::checkpoint_store store(dir.path.string());
  std::promise<ws::checkpoint_write_result> first;
  {
    ws::checkpoint_writer writer(store);
    std::promise<void> release;
    auto gate = release.get_future().share();
    // The first write's callback blocks until released, so the writer is provably busy.
    REQUIRE(writer.submit(fleet(3).bytes(), [&first, gate](const ws::checkpoint_write_result& r) {
      first.set_value(r);
      gate.wait();
    }));
    CHECK(writer.busy());
    CHECK_FALSE(writer.submit(fleet(1).bytes(), nullptr));
    const auto r = first.get_future().get();
    CHECK(r.ok);
    CHECK(r.generation == 1);
    release.set_value();
    writer.wait_idle();
    CHECK_FALSE(writer.busy());
    std::promise<std::uint64_t> second;
    REQUIRE(writer.submit(fleet(5).bytes(), [&second](const ws::checkpoint_write_result& x) {
      second.set_value(x.ok ? x.generation : 0);
    }));
    CHECK(second.get_future().get() == 2);
    writer.wait_idle();
    // A pending write is finished by the destructor.
    REQUIRE(writer.submit(fleet(4).bytes(), nullptr));
  }
  ws::checkpoint_store reader(dir.path.string());
  const auto l = reader.load();
  REQUIRE(l.found);
  CHECK(l.data.generation == 3);
  fleet(4).check(l.data);
}

TEST_CASE("the runner serialises in slices between io events, then writes on its thread") {
  temp_dir dir;
  asio::io_context io;
  std::vector<std::string> logged;
  ws::checkpoint_runner runner(
      io, dir.path.string(),
      [&logged](std::string_view level, const std::string& m) {
        logged.push_back(std::string(level) + ": " + m);
      },
      std::chrono::microseconds(200));
  const fleet f(300);
  // Each stream costs at least 20 µs here, so 300 of them cannot fit in one 200 µs slice.
  auto add = [&f](std::size_t i, ws::checkpoint_builder& b) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    while (std::chrono::steady_clock::now() < until) {
    }
    b.add(f.names[i], f.counters[i], *f.pipes[i]);
  };
  REQUIRE(runner.start(f.names.size(), add));
  CHECK_FALSE(runner.start(f.names.size(), add));  // one at a time
  // "Ingest": handlers that keep re-posting themselves while the checkpoint is being serialised.
  std::size_t interleaved = 0;
  std::function<void()> ingest = [&] {
    if (runner.running()) {
      ++interleaved;
      asio::post(io, ingest);
    }
  };
  asio::post(io, ingest);
  for (int k = 0; k < 100000 && runner.running(); ++k) {
    io.run_one();
  }
  REQUIRE_FALSE(runner.running());
  CHECK(interleaved >= 2);  // other events ran between the slices
  // The write happens on the writer thread; wait for it (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runner.metrics().written.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(runner.metrics().written.load() == 1);
  CHECK(runner.metrics().failed.load() == 0);
  CHECK(runner.metrics().last_streams.load() == 300);
  CHECK(runner.metrics().last_max_slice_ns.load() > 0);
  CHECK(runner.metrics().last_serialize_ns.load() >= runner.metrics().last_max_slice_ns.load());
  ws::checkpoint_store reader(dir.path.string());
  auto l = reader.load();
  REQUIRE(l.found);
  f.check(l.data);

  // finish(): a periodic checkpoint in progress is abandoned and everything written at once.
  REQUIRE(runner.start(f.names.size(), add));
  io.run_one();  // one slice
  CHECK(runner.running());
  const fleet g(20, 9);
  const auto r = runner.finish(g.names.size(), [&g](std::size_t i, ws::checkpoint_builder& b) {
    b.add(g.names[i], g.counters[i], *g.pipes[i]);
  });
  REQUIRE(r.ok);
  CHECK_FALSE(runner.running());
  CHECK(runner.metrics().written.load() == 2);
  l = ws::checkpoint_store(dir.path.string()).load();
  REQUIRE(l.found);
  CHECK(l.data.generation == 2);
  g.check(l.data);
  CHECK_FALSE(runner.start(1, add));  // stopped for good
  io.run();                           // the abandoned slice's handler runs and does nothing
  CHECK(ws::checkpoint_store(dir.path.string()).generations() == std::vector<std::uint64_t>{2, 1});
  CHECK(logged.empty());
}

TEST_CASE("the runner's load reports damaged generations and skips pipelines without state") {
  temp_dir dir;
  asio::io_context io;
  std::vector<std::string> logged;
  ws::checkpoint_runner runner(io, (dir.path / "new").string(),
                               [&logged](std::string_view level, const std::string& m) {
                                 logged.push_back(std::string(level) + ": " + m);
                               });
  const auto empty = runner.load();  // creates the directory
  CHECK_FALSE(empty.found);
  CHECK(fs::is_directory(dir.path / "new"));
  struct bare final : ws::pipeline {
    bool push(double /*x*/, ws::alert_info& /*alert*/) noexcept override { return false; }
    void write_stats(ws::stats_writer& /*out*/) const override {}
  } no_state;
  const fleet f(2);
  auto r = runner.finish(3, [&](std::size_t i, ws::checkpoint_builder& b) {
    if (i == 1) {
      b.add("bare", {}, no_state);
    } else {
      b.add(f.names[i / 2], f.counters[i / 2], *f.pipes[i / 2]);
    }
  });
  REQUIRE(r.ok);
  CHECK(runner.metrics().skipped_streams.load() == 1);
  CHECK(runner.metrics().last_streams.load() == 2);
  REQUIRE(logged.size() == 1);
  CHECK_THAT(logged[0], Catch::Matchers::StartsWith("warn: 1 stream(s) not checkpointed"));
  // The only generation damaged: a load finds nothing, names the file and the problem.
  {
    std::string b = read_all(r.path);
    b[b.size() / 3] = static_cast<char>(b[b.size() / 3] ^ 1);
    write_all(r.path, b);
  }
  ws::checkpoint_runner again(io, (dir.path / "new").string(),
                              [&logged](std::string_view level, const std::string& m) {
                                logged.push_back(std::string(level) + ": " + m);
                              });
  const auto l = again.load();
  CHECK_FALSE(l.found);
  REQUIRE(logged.size() == 2);
  CHECK_THAT(logged[1], Catch::Matchers::StartsWith("error: checkpoint " + r.path + ": corrupted"));
  CHECK(fs::exists(r.path + ".damaged"));
}

TEST_CASE("a stream_registry round-trips through the runner - a changed pipeline is refused by name") {
  temp_dir dir;
  asio::io_context io;
  std::vector<std::string> logged;
  auto log = [&logged](std::string_view level, const std::string& m) {
    logged.push_back(std::string(level) + ": " + m);
  };
  ws::pipeline_spec small;
  small.cumulative.count = small.cumulative.mean = true;
  small.sma = 5;
  const ws::pipeline_factory make = ws::spec_pipeline_factory({small});
  ws::stream_registry<> a;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (const char* name : {"a", "b", "c"}) {
    auto r = a.find_or_create(name, make);
    REQUIRE(r.s != nullptr);
    std::vector<double> xs(40);
    for (auto& x : xs) {
      x = noise(rng);
    }
    a.push(*r.s, xs.data(), xs.size(), 1.7e9, [](std::uint64_t, double, const ws::alert_info&) {});
    ws::stream_registry<>::count_rejected(*r.s);
  }
  {
    ws::checkpoint_runner runner(io, dir.path.string(), log);
    REQUIRE(runner.finish(a).ok);
  }
  ws::stream_registry<> b;
  std::vector<std::string> created;
  ws::checkpoint_runner runner(io, dir.path.string(), log);
  CHECK(runner.restore(b, make,
                       [&created](ws::stream_registry<>::stream& s) { created.push_back(s.name); }) == 3);
  CHECK(created == std::vector<std::string>{"a", "b", "c"});
  a.for_each([&b](std::string_view name, ws::stream_registry<>::stream& s) {
    const auto* t = b.find(name);
    REQUIRE(t != nullptr);
    CHECK(t->counters.count == s.counters.count);
    CHECK(t->counters.rejected == 1);
    CHECK(t->counters.last == s.counters.last);
    CHECK(t->counters.t == s.counters.t);
    CHECK(stats_text(*t->pipe) == stats_text(*s.pipe));
  });
  CHECK_THAT(logged.back(), Catch::Matchers::StartsWith("info: restored 3 stream(s) from "));

  // Stream "b" now gets another spec: refused (named, both identities), the others restored.
  ws::pipeline_spec other = small;
  other.match = "b";
  other.sma = 6;
  ws::stream_registry<> c;
  ws::checkpoint_runner again(io, dir.path.string(), log);
  CHECK(again.restore(c, ws::spec_pipeline_factory({other, small}), [](ws::stream_registry<>::stream&) {}) ==
        2);
  CHECK(c.find("b") == nullptr);
  CHECK(c.find("a") != nullptr);
  const auto refused = std::find_if(logged.begin(), logged.end(), [](const std::string& l) {
    return l.rfind("error: stream \"b\" not restored from ", 0) == 0;
  });
  REQUIRE(refused != logged.end());
  CHECK_THAT(*refused, Catch::Matchers::Contains("sma=5") && Catch::Matchers::Contains("sma=6"));
  CHECK_THAT(logged.back(), Catch::Matchers::EndsWith("; 1 refused"));
}
