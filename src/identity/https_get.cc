#include "identity/https_get.h"

#include <curl/curl.h>

#include <cctype>
#include <memory>
#include <mutex>

namespace ag::identity {
namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct Sink {
  std::string body;
  size_t max_bytes = 0;
  bool overflow = false;
};

size_t Write(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t len = size * n;
  if (sink->body.size() + len > sink->max_bytes) {
    sink->overflow = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, len);
  return len;
}

// CURLOPT_XFERINFOFUNCTION: non-zero stops the transfer.
int Progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(user)->load() ? 1 : 0;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

namespace {

size_t Header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos && headers->size() < 64) {
    std::string name = line.substr(0, colon);
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.pop_back();
    }
    (*headers)[name] = value.substr(0, 256);
  }
  return size * n;
}

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// One request; `post` with a body, else GET.
Result<HttpsResponse> Perform(const std::string& url, const std::vector<std::string>* headers,
                              const std::string* post, const HttpsGetOptions& options);

}  // namespace

Result<std::string> HttpsGet(const std::string& url, const HttpsGetOptions& options) {
  AG_ASSIGN_OR_RETURN(HttpsResponse r, Perform(url, nullptr, nullptr, options));
  if (r.status != 200) return Status::Unavailable(url + ": HTTP status " + std::to_string(r.status));
  return std::move(r.body);
}

Result<HttpsResponse> HttpsPost(const std::string& url, const std::vector<std::string>& headers,
                                const std::string& body, const HttpsGetOptions& options) {
  return Perform(url, &headers, &body, options);
}

namespace {

Result<HttpsResponse> Perform(const std::string& url, const std::vector<std::string>* headers,
                              const std::string* post, const HttpsGetOptions& options) {
  if (url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("refusing to fetch a non-https URL: " + url);
  }
  HttpsResponse response;
  std::unique_ptr<curl_slist, SlistFree> list;
  if (headers) {
    curl_slist* l = nullptr;
    for (const std::string& h : *headers) l = curl_slist_append(l, h.c_str());
    list.reset(l);
  }
  GlobalInit();
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return Status::Internal("curl_easy_init failed");
  Sink sink;
  sink.max_bytes = options.max_bytes;
  char error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  bool set_ok =
      curl_easy_setopt(c, CURLOPT_URL, url.c_str()) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https") == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, options.max_redirects > 0 ? 1L : 0L) ==
          CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(options.max_redirects)) ==
          CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
      (options.ca_file.empty() ||
       curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str()) == CURLE_OK) &&
      curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(options.connect_timeout.count())) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count())) ==
          CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                       static_cast<curl_off_t>(options.max_bytes)) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Write) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_USERAGENT, "agentgate") == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Header) == CURLE_OK &&
      curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers) == CURLE_OK &&
      (!list || curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get()) == CURLE_OK) &&
      (!post || (curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->c_str()) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                  static_cast<curl_off_t>(post->size())) == CURLE_OK)) &&
      (!options.abort ||
       (curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Progress) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, options.abort) == CURLE_OK &&
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK));
  if (!set_ok) return Status::Internal("cannot configure libcurl for " + url);

  CURLcode rc = curl_easy_perform(c);
  if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return Status::ResourceExhausted(url + ": response larger than " +
                                     std::to_string(options.max_bytes) + " bytes");
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) return Status::Unavailable(url + ": aborted");
  if (rc != CURLE_OK) {
    return Status::Unavailable(url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  response.body = std::move(sink.body);
  return response;
}

}  // namespace
}  // namespace ag::identity
