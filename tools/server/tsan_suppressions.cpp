// ThreadSanitizer suppressions built into shortline-server (read only by TSan builds).
// moodycamel's queues publish elements with std::atomic_thread_fence, which TSan does not
// model, so it reports races inside the queue that are not there (upstream:
// cameron314/concurrentqueue issues #49 and #62). Only frames inside moodycamel match;
// races in our own code are still reported.
extern "C" const char* __tsan_default_suppressions();
extern "C" const char* __tsan_default_suppressions() { return "race:moodycamel::\n"; }
