// The index test classes run one after another. Run side by side on a loaded 2-core machine (all test projects at
// once, as CI does), the test host crashed in libusearch_c (SIGSEGV, threads inside usearch_add / usearch_search on
// separate indexes) in 3 of 4 CI runs; alone, 1 run in 26. The concurrency each class means to test (adds beside
// searches on one index) still runs inside its own test.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
