#include "agent/textparse/protoparse.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "agent/model/labels.h"
#include "agent/textparse/float.h"
#include "common/util/utf8.h"

namespace promsidecar::textparse {
namespace {

// io.prometheus.client.MetricType.
enum ProtoType { kCounter = 0, kGauge = 1, kSummary = 2, kUntyped = 3, kHistogram = 4, kGaugeHistogram = 5 };

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

// One field of a message: its number, wire type and payload.
// The tag is kept whole (number << 3 | wire, as on the wire): a test of both
// parts then reads one stored word. Stored as two narrow fields, the compiler
// merges such a test into one wide load of two separate stores, which the CPU
// cannot forward: a stall on every field of every Metric.
struct Field {
  uint32_t tag = 0;
  uint64_t varint = 0;     // kVarint, and the bits of kFixed64/kFixed32
  std::string_view bytes;  // kBytes
  uint32_t number() const { return tag >> 3; }
  uint8_t wire() const { return static_cast<uint8_t>(tag & 7); }
};

inline bool ReadVarint(const char*& p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Reads the field at `p` (advancing it). False on malformed input (including
// the deprecated group wire types, which no exposition uses).
inline bool ReadField(const char*& p, const char* end, Field* f) {
  uint64_t tag = 0;
  if (!ReadVarint(p, end, &tag)) return false;
  if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return false;
  f->tag = static_cast<uint32_t>(tag);
  switch (f->wire()) {
    case kVarint: return ReadVarint(p, end, &f->varint);
    case kFixed64:
      if (end - p < 8) return false;
      std::memcpy(&f->varint, p, 8);
      p += 8;
      return true;
    case kFixed32: {
      if (end - p < 4) return false;
      uint32_t v;
      std::memcpy(&v, p, 4);
      f->varint = v;
      p += 4;
      return true;
    }
    case kBytes: {
      uint64_t len = 0;
      if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) return false;
      f->bytes = std::string_view(p, static_cast<size_t>(len));
      p += len;
      return true;
    }
    default: return false;
  }
}

// Calls fn(field) for every field of `msg`; false on malformed bytes.
template <typename Fn>
bool ForEachField(std::string_view msg, Fn&& fn) {
  const char* p = msg.data();
  const char* end = p + msg.size();
  Field f;
  while (p < end) {
    if (!ReadField(p, end, &f)) return false;
    if (!fn(f)) return false;
  }
  return true;
}

inline double AsDouble(const Field& f) {
  double d;
  std::memcpy(&d, &f.varint, 8);
  return d;
}
inline int64_t ZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// A double field: fixed64 (checked by the caller's wire-type test).
inline bool IsDouble(const Field& f) {
  return f.wire() == kFixed64;
}

// Repeated scalar fields may come packed (one kBytes field) or one by one.
template <typename T, typename Decode>
bool AppendRepeated(const Field& f, uint8_t scalar_wire, std::vector<T>* out, Decode decode) {
  if (f.wire() == scalar_wire) {
    out->push_back(decode(f.varint));
    return true;
  }
  if (f.wire() != kBytes) return false;
  const char* p = f.bytes.data();
  const char* end = p + f.bytes.size();
  while (p < end) {
    uint64_t v = 0;
    if (scalar_wire == kVarint) {
      if (!ReadVarint(p, end, &v)) return false;
    } else {
      if (end - p < 8) return false;
      std::memcpy(&v, p, 8);
      p += 8;
    }
    out->push_back(decode(v));
  }
  return true;
}

// google.protobuf.Timestamp → milliseconds (seconds*1000 + nanos/1e6, as
// Prometheus computes it, wrapping around like Go's int64 arithmetic when a
// hostile page sends seconds beyond int64 milliseconds).
bool ParseTimestamp(std::string_view msg, int64_t* ms) {
  int64_t seconds = 0, nanos = 0;
  bool ok = ForEachField(msg, [&](const Field& f) {
    if (f.number() == 1 && f.wire() == kVarint) seconds = static_cast<int64_t>(f.varint);
    if (f.number() == 2 && f.wire() == kVarint) nanos = static_cast<int32_t>(f.varint);
    return true;
  });
  if (!ok) return false;
  *ms =
      static_cast<int64_t>(static_cast<uint64_t>(seconds) * 1000u + static_cast<uint64_t>(nanos / 1'000'000));
  return true;
}

bool ParseSpans(std::string_view msg, std::vector<model::BucketSpan>* out) {
  model::BucketSpan span;
  bool ok = ForEachField(msg, [&](const Field& f) {
    if (f.number() == 1 && f.wire() == kVarint) span.offset = static_cast<int32_t>(ZigZag(f.varint));
    if (f.number() == 2 && f.wire() == kVarint) span.length = static_cast<uint32_t>(f.varint);
    return true;
  });
  out->push_back(span);
  return ok;
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s.substr(0, 64)) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (s.size() > 64 ? "\"..." : "\"");
}

MetricType ToMetricType(int proto_type) {
  switch (proto_type) {
    case kCounter: return MetricType::kCounter;
    case kGauge: return MetricType::kGauge;
    case kSummary: return MetricType::kSummary;
    case kHistogram: return MetricType::kHistogram;
    case kGaugeHistogram: return MetricType::kGaugeHistogram;
    default: return MetricType::kUnknown;
  }
}

}  // namespace

void ProtoParser::Reset(std::string_view body, Options options) {
  body_ = body;
  pos_ = 0;
  options_ = options;
  done_ = false;
  final_ = Entry::kEof;
  error_ = ParseError{};
  family_index_ = 0;
  phase_ = Phase::kFamily;
  family_ = Family{};
  metrics_.clear();
  metric_index_ = 0;
  classic_ = Classic{};
  native_ = false;
}

Entry ProtoParser::Fail(std::string message) {
  // There are no lines: the error names the family (by number and name).
  error_.line = family_index_;
  error_.message = "metric family " + std::to_string(family_index_) +
                   (family_.name.empty() ? "" : " " + Quote(family_.name)) + ": " + message;
  done_ = true;
  final_ = Entry::kInvalid;
  return Entry::kInvalid;
}

bool ProtoParser::ReadFamily() {
  const char* p = body_.data() + pos_;
  const char* end = body_.data() + body_.size();
  uint64_t len = 0;
  if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p)) {
    ++family_index_;
    Fail("truncated length-delimited message (is this the delimited protobuf format?)");
    return false;
  }
  std::string_view msg(p, static_cast<size_t>(len));
  pos_ = static_cast<size_t>(p - body_.data()) + len;
  ++family_index_;
  family_ = Family{};
  metrics_.clear();
  metric_index_ = 0;
  bool ok = ForEachField(msg, [&](const Field& f) {
    switch (f.number()) {
      case 1: family_.name = f.bytes; return f.wire() == kBytes;
      case 2: family_.help = f.bytes; return f.wire() == kBytes;
      case 3: family_.proto_type = static_cast<int>(f.varint); return f.wire() == kVarint;
      case 4: metrics_.push_back(f.bytes); return f.wire() == kBytes;
      case 5: family_.unit = f.bytes; return f.wire() == kBytes;
      default: return true;
    }
  });
  if (!ok) {
    Fail("malformed MetricFamily message");
    return false;
  }
  if (!model::IsValidMetricName(family_.name)) {
    Fail(family_.name.empty() ? "the family has no name"
                              : "invalid metric name " + Quote(family_.name) +
                                    " (want [a-zA-Z_:][a-zA-Z0-9_:]*; UTF-8 names are not supported)");
    return false;
  }
  if (!IsValidUtf8(family_.help)) {
    Fail("HELP text is not valid UTF-8");
    return false;
  }
  if (family_.proto_type < kCounter || family_.proto_type > kGaugeHistogram) {
    Fail("unknown metric type " + std::to_string(family_.proto_type));
    return false;
  }
  family_.type = ToMetricType(family_.proto_type);
  return true;
}

Entry ProtoParser::Next() {
  if (done_) return final_;
  has_exemplar_ = false;
  exemplars_.clear();
  for (;;) {
    switch (phase_) {
      case Phase::kFamily:
        if (pos_ >= body_.size()) {
          done_ = true;
          final_ = Entry::kEof;
          return Entry::kEof;
        }
        if (!ReadFamily()) return Entry::kInvalid;
        if (metrics_.empty()) continue;  // empty families are skipped, as in Prometheus
        name_ = family_.name;
        phase_ = Phase::kHelp;
        return Entry::kHelp;
      case Phase::kHelp:
        phase_ = family_.unit.empty() ? Phase::kType : Phase::kUnit;
        if (phase_ == Phase::kUnit) return Entry::kUnit;
        continue;
      case Phase::kUnit: phase_ = Phase::kType; continue;
      case Phase::kType: phase_ = Phase::kMetric; return Entry::kType;
      case Phase::kMetric: {
        if (classic_.active) {
          Entry e = EmitClassic();
          if (e != Entry::kEof) return e;  // kEof: that metric is done
        }
        if (metric_index_ >= metrics_.size()) {
          phase_ = Phase::kFamily;
          continue;
        }
        if (!LoadMetric(metrics_[metric_index_++])) return Entry::kInvalid;
        return EmitMetric();
      }
    }
  }
}

bool ProtoParser::LoadMetric(std::string_view metric) {
  metric_labels_.clear();
  metric_ts_.reset();
  metric_created_.reset();
  simple_value_ = 0;
  counter_exemplar_ = {};
  summary_count_ = 0;
  summary_sum_ = 0;
  quantiles_.clear();
  buckets_.clear();
  h_count_ = 0;
  h_count_float_ = 0;
  h_sum_ = 0;
  h_exemplars_.clear();
  native_ = false;
  model::Histogram& h = histogram_;
  h.is_float = false;
  h.reset_hint = model::ResetHint::kUnknown;
  h.schema = 0;
  h.zero_threshold = 0;
  h.count_int = h.zero_count_int = 0;
  h.count_float = h.zero_count_float = h.sum = 0;
  h.positive_spans.clear();
  h.negative_spans.clear();
  h.positive_deltas.clear();
  h.negative_deltas.clear();
  h.positive_counts.clear();
  h.negative_counts.clear();
  h.custom_values.clear();

  std::string_view value_msg;  // the one of gauge/counter/summary/untyped/histogram that matches the type
  int value_field = 0;
  switch (family_.proto_type) {
    case kCounter: value_field = 3; break;
    case kGauge: value_field = 2; break;
    case kSummary: value_field = 4; break;
    case kUntyped: value_field = 5; break;
    default: value_field = 7; break;
  }
  bool ok = ForEachField(metric, [&](const Field& f) {
    if (f.number() == 1 && f.wire() == kBytes) {
      std::string_view name, value;
      bool lp = ForEachField(f.bytes, [&](const Field& l) {
        if (l.wire() != kBytes) return l.number() != 1 && l.number() != 2;
        if (l.number() == 1) name = l.bytes;
        if (l.number() == 2) value = l.bytes;
        return true;
      });
      if (!lp) return false;
      metric_labels_.push_back({name, value});
    } else if (f.number() == 6 && f.wire() == kVarint) {
      if (f.varint != 0) metric_ts_ = static_cast<int64_t>(f.varint);
    } else if (f.number() == static_cast<uint32_t>(value_field) && f.wire() == kBytes) {
      value_msg = f.bytes;
    }
    return true;
  });
  if (!ok) {
    Fail("malformed Metric message");
    return false;
  }
  for (const auto& l : metric_labels_) {
    if (!model::IsValidLabelName(l.name)) {
      Fail("invalid label name " + Quote(l.name) + " (want [a-zA-Z_][a-zA-Z0-9_]*)");
      return false;
    }
    if (!IsValidUtf8(l.value)) {
      Fail("invalid UTF-8 in the value of label " + Quote(l.name));
      return false;
    }
  }

  auto bad = [&](const char* what) {
    Fail(std::string("malformed ") + what + " message");
    return false;
  };
  switch (family_.proto_type) {
    case kCounter:
    case kGauge:
    case kUntyped:
      if (!ForEachField(value_msg, [&](const Field& f) {
            if (f.number() == 1 && IsDouble(f)) simple_value_ = AsDouble(f);
            if (family_.proto_type == kCounter && f.wire() == kBytes) {
              if (f.number() == 2) counter_exemplar_ = f.bytes;
              if (f.number() == 3) {
                int64_t ms = 0;
                if (!ParseTimestamp(f.bytes, &ms)) return false;
                metric_created_ = ms;
              }
            }
            return true;
          })) {
        return bad("Counter/Gauge/Untyped");
      }
      break;
    case kSummary:
      if (!ForEachField(value_msg, [&](const Field& f) {
            if (f.number() == 1 && f.wire() == kVarint) summary_count_ = f.varint;
            if (f.number() == 2 && IsDouble(f)) summary_sum_ = AsDouble(f);
            if (f.number() == 3 && f.wire() == kBytes) {
              double q = 0, v = 0;
              if (!ForEachField(f.bytes, [&](const Field& qf) {
                    if (qf.number() == 1 && IsDouble(qf)) q = AsDouble(qf);
                    if (qf.number() == 2 && IsDouble(qf)) v = AsDouble(qf);
                    return true;
                  })) {
                return false;
              }
              quantiles_.emplace_back(q, v);
            }
            if (f.number() == 4 && f.wire() == kBytes) {
              int64_t ms = 0;
              if (!ParseTimestamp(f.bytes, &ms)) return false;
              metric_created_ = ms;
            }
            return true;
          })) {
        return bad("Summary");
      }
      break;
    default:
      if (!ParseHistogram(value_msg)) return false;
      break;
  }
  return true;
}

bool ProtoParser::ParseHistogram(std::string_view msg) {
  model::Histogram& h = histogram_;
  uint64_t zero_count = 0;
  bool ok = ForEachField(msg, [&](const Field& f) {
    auto sint64 = [](uint64_t v) { return ZigZag(v); };
    auto f64 = [](uint64_t v) { return std::bit_cast<double>(v); };
    switch (f.number()) {
      case 1: h_count_ = f.varint; return f.wire() == kVarint;
      case 4: h_count_float_ = AsDouble(f); return IsDouble(f);
      case 2: h_sum_ = AsDouble(f); return IsDouble(f);
      case 3: {
        Bucket b;
        uint64_t cumulative = 0;
        double cumulative_float = 0;
        bool bok = ForEachField(f.bytes, [&](const Field& bf) {
          if (bf.number() == 1 && bf.wire() == kVarint) cumulative = bf.varint;
          if (bf.number() == 4 && IsDouble(bf)) cumulative_float = AsDouble(bf);
          if (bf.number() == 2 && IsDouble(bf)) b.upper = AsDouble(bf);
          if (bf.number() == 3 && bf.wire() == kBytes) b.exemplar = bf.bytes;
          return true;
        });
        // Prometheus: the float count overrides when it is not 0.
        b.cumulative = cumulative_float != 0 ? cumulative_float : static_cast<double>(cumulative);
        buckets_.push_back(b);
        return f.wire() == kBytes && bok;
      }
      case 15: {
        int64_t ms = 0;
        if (f.wire() != kBytes || !ParseTimestamp(f.bytes, &ms)) return false;
        metric_created_ = ms;
        return true;
      }
      case 5: h.schema = static_cast<int32_t>(ZigZag(f.varint)); return f.wire() == kVarint;
      case 6: h.zero_threshold = AsDouble(f); return IsDouble(f);
      case 7: zero_count = f.varint; return f.wire() == kVarint;
      case 8: h.zero_count_float = AsDouble(f); return IsDouble(f);
      case 9: return f.wire() == kBytes && ParseSpans(f.bytes, &h.negative_spans);
      case 10: return AppendRepeated(f, kVarint, &h.negative_deltas, sint64);
      case 11: return AppendRepeated(f, kFixed64, &h.negative_counts, f64);
      case 12: return f.wire() == kBytes && ParseSpans(f.bytes, &h.positive_spans);
      case 13: return AppendRepeated(f, kVarint, &h.positive_deltas, sint64);
      case 14: return AppendRepeated(f, kFixed64, &h.positive_counts, f64);
      case 16: h_exemplars_.push_back(f.bytes); return f.wire() == kBytes;
      default: return true;
    }
  });
  if (!ok) {
    Fail("malformed Histogram message");
    return false;
  }
  h.zero_count_int = zero_count;
  h.count_int = h_count_;
  h.count_float = h_count_float_;
  h.sum = h_sum_;
  native_ = options_.native_histograms && (!h.positive_spans.empty() || !h.negative_spans.empty() ||
                                           h.zero_threshold > 0 || zero_count > 0);
  if (native_) {
    // As Prometheus decides it: any float count makes a float histogram.
    h.is_float = h_count_float_ > 0 || h.zero_count_float > 0 || !h.positive_counts.empty() ||
                 !h.negative_counts.empty();
    if (h.is_float) {
      h.count_int = h.zero_count_int = 0;
      h.positive_deltas.clear();
      h.negative_deltas.clear();
    } else {
      h.count_float = h.zero_count_float = 0;
      h.positive_counts.clear();
      h.negative_counts.clear();
    }
    if (family_.proto_type == kGaugeHistogram) h.reset_hint = model::ResetHint::kGauge;
    if (auto why = model::ValidateHistogram(h)) {
      Fail("histogram: " + *why);
      return false;
    }
  }
  return true;
}

bool ProtoParser::BuildLabels(std::string_view suffix, std::string_view magic_name,
                              std::string_view magic_value) {
  if (suffix.empty()) {
    name_ = family_.name;
  } else {
    name_buf_.assign(family_.name);
    name_buf_ += suffix;
    name_ = name_buf_;
  }
  labels_.assign(metric_labels_.begin(), metric_labels_.end());
  if (!magic_name.empty()) labels_.push_back({magic_name, magic_value});
  // The key: name, then every label, separated by bytes no name contains.
  // Sized once and filled with plain copies (appending byte by byte checks
  // the capacity at every step, on every series).
  size_t size = name_.size();
  for (const auto& l : labels_) {
    if (l.name == model::kMetricName) {
      Fail("label \"__name__\" in a series of the family");
      return false;
    }
    size += 2 + l.name.size() + l.value.size();
  }
  key_.resize(size);
  char* out = key_.data();
  auto put = [&out](std::string_view s) {
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    out += s.size();
  };
  put(name_);
  for (const auto& l : labels_) {
    *out++ = '\xff';
    put(l.name);
    *out++ = '\xfe';
    put(l.value);
  }
  for (size_t i = 0; i < labels_.size(); ++i) {
    for (size_t j = i + 1; j < labels_.size(); ++j) {
      if (labels_[i].name == labels_[j].name) {
        Fail("duplicate label " + Quote(labels_[i].name) + " in a series of the family");
        return false;
      }
    }
  }
  return true;
}

bool ProtoParser::ParseExemplar(std::string_view bytes, Exemplar* out, std::vector<LabelView>* labels) {
  labels->clear();
  *out = Exemplar{};
  bool ok = ForEachField(bytes, [&](const Field& f) {
    if (f.number() == 1 && f.wire() == kBytes) {
      std::string_view name, value;
      if (!ForEachField(f.bytes, [&](const Field& l) {
            if (l.number() == 1 && l.wire() == kBytes) name = l.bytes;
            if (l.number() == 2 && l.wire() == kBytes) value = l.bytes;
            return true;
          })) {
        return false;
      }
      labels->push_back({name, value});
    } else if (f.number() == 2 && IsDouble(f)) {
      out->value = AsDouble(f);
    } else if (f.number() == 3 && f.wire() == kBytes) {
      int64_t ms = 0;
      if (!ParseTimestamp(f.bytes, &ms)) return false;
      out->timestamp_ms = ms;
    }
    return true;
  });
  if (!ok) {
    Fail("malformed Exemplar message");
    return false;
  }
  size_t chars = 0;
  for (const auto& l : *labels) {
    if (!model::IsValidLabelName(l.name) || !IsValidUtf8(l.value)) {
      Fail("invalid exemplar label " + Quote(l.name));
      return false;
    }
    chars += l.name.size();
    for (unsigned char c : l.value) chars += (c & 0xc0) != 0x80;
  }
  if (out->value != out->value) out->value = model::NormalNaN();
  out->labels = *labels;
  out->label_set_chars = chars;
  return true;
}

Entry ProtoParser::EmitMetric() {
  timestamp_ms_ = metric_ts_;
  created_ms_ = metric_created_;
  switch (family_.proto_type) {
    case kCounter:
    case kGauge:
    case kUntyped:
      if (!BuildLabels({}, {}, {})) return Entry::kInvalid;
      value_ = simple_value_ != simple_value_ ? model::NormalNaN() : simple_value_;
      if (!counter_exemplar_.empty()) {
        exemplars_.emplace_back();
        if (exemplar_labels_.empty()) exemplar_labels_.emplace_back();
        if (!ParseExemplar(counter_exemplar_, &exemplars_[0], &exemplar_labels_[0])) return Entry::kInvalid;
        has_exemplar_ = true;
      }
      return Entry::kSeries;
    case kSummary: classic_ = Classic{true, -2, false}; return EmitClassic();
    default:
      if (!native_) {
        classic_ = Classic{true, -2, false};
        return EmitClassic();
      }
      if (!BuildLabels({}, {}, {})) return Entry::kInvalid;
      // Exemplars: the histogram's own list, else the classic buckets'; in
      // both cases only those with a timestamp (Prometheus drops the rest).
      {
        std::vector<std::string_view> sources = h_exemplars_;
        if (sources.empty()) {
          for (const auto& b : buckets_) {
            if (!b.exemplar.empty()) sources.push_back(b.exemplar);
          }
        }
        if (exemplar_labels_.size() < sources.size()) exemplar_labels_.resize(sources.size());
        for (size_t i = 0; i < sources.size(); ++i) {
          Exemplar ex;
          if (!ParseExemplar(sources[i], &ex, &exemplar_labels_[exemplars_.size()])) return Entry::kInvalid;
          if (ex.timestamp_ms) exemplars_.push_back(ex);
        }
      }
      classic_ = Classic{options_.keep_classic_histograms && !buckets_.empty(), -2, false};
      return Entry::kHistogram;
  }
}

Entry ProtoParser::EmitClassic() {
  timestamp_ms_ = metric_ts_;
  created_ms_ = metric_created_;
  const bool summary = family_.proto_type == kSummary;
  const int pos = classic_.pos;
  if (pos == -2) {
    classic_.pos = -1;
    if (!BuildLabels("_count", {}, {})) return Entry::kInvalid;
    if (summary) {
      value_ = static_cast<double>(summary_count_);
    } else {
      value_ = h_count_float_ != 0 ? h_count_float_ : static_cast<double>(h_count_);
    }
    return Entry::kSeries;
  }
  if (pos == -1) {
    classic_.pos = 0;
    if (!BuildLabels("_sum", {}, {})) return Entry::kInvalid;
    value_ = summary ? summary_sum_ : h_sum_;
    if (value_ != value_) value_ = model::NormalNaN();
    return Entry::kSeries;
  }
  if (summary) {
    if (static_cast<size_t>(pos) >= quantiles_.size()) {
      classic_.active = false;
      return Entry::kEof;
    }
    classic_.pos = pos + 1;
    size_t n = FormatOpenMetricsFloat(quantiles_[static_cast<size_t>(pos)].first, magic_buf_);
    if (!BuildLabels({}, "quantile", std::string_view(magic_buf_, n))) return Entry::kInvalid;
    value_ = quantiles_[static_cast<size_t>(pos)].second;
    if (value_ != value_) value_ = model::NormalNaN();
    return Entry::kSeries;
  }
  // inf_pending: the +Inf bucket has been emitted, the metric is done.
  const size_t i = static_cast<size_t>(pos);
  if (classic_.inf_pending) {
    classic_.active = false;
    return Entry::kEof;
  }
  classic_.pos = pos + 1;
  if (i >= buckets_.size()) {
    // No +Inf bucket on the page: Prometheus adds one with the count.
    classic_.inf_pending = true;
    if (!BuildLabels("_bucket", "le", "+Inf")) return Entry::kInvalid;
    value_ = h_count_float_ != 0 ? h_count_float_ : static_cast<double>(h_count_);
    return Entry::kSeries;
  }
  const Bucket& b = buckets_[i];
  size_t n = FormatOpenMetricsFloat(b.upper, magic_buf_);
  if (!BuildLabels("_bucket", "le", std::string_view(magic_buf_, n))) return Entry::kInvalid;
  value_ = b.cumulative;
  if (!b.exemplar.empty()) {
    exemplars_.emplace_back();
    if (exemplar_labels_.empty()) exemplar_labels_.emplace_back();
    if (!ParseExemplar(b.exemplar, &exemplars_[0], &exemplar_labels_[0])) return Entry::kInvalid;
    has_exemplar_ = true;
  }
  if (std::isinf(b.upper) && b.upper > 0) classic_.inf_pending = true;
  return Entry::kSeries;
}

}  // namespace promsidecar::textparse
