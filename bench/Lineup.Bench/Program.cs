using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Lineup.Bench -- --filter '*'   (or pick a class: --filter '*FaceHotPath*')
// Each class has a baseline measured in the same run; [MemoryDiagnoser] reports bytes allocated per operation.
BenchmarkSwitcher.FromAssembly(typeof(Lineup.Bench.BenchPaths).Assembly).Run(args);
