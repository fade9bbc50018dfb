using Lineup.Vision.Models;

namespace Lineup.Vision.Tests;

/// <summary>
/// The GPU path is optional and this build is CPU-only (the project never needs a GPU; CI has none): asking for CUDA here
/// must fail when the models open, with a message that says what the GPU path needs, and never fall back silently.
/// </summary>
[Trait("Category", "Data")]
public sealed class ExecutionProviderTests
{
    [SkippableFact]
    public async Task Cuda_on_the_cpu_only_runtime_fails_naming_what_it_needs()
    {
        var cpu = await TestPaths.ModelsAsync();
        var cuda = new ModelStore(cpu.CacheDirectory) { ExecutionProvider = ExecutionProvider.Cuda, CudaDevice = 0 };

        var refused = Assert.Throws<ModelStoreException>(() => FaceEngine.Create(cuda));

        Assert.Contains("CUDA execution provider (device 0) is not available", refused.Message, StringComparison.Ordinal);
        Assert.Contains("-p:OnnxRuntimeGpu=true", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Lineup:ExecutionProvider", refused.Message, StringComparison.Ordinal);

        // The CPU store over the same files still opens and analyses: the refusal left nothing half-built behind.
        using var engine = FaceEngine.Create(cpu);
        Assert.NotEmpty(engine.AnalyzeFile(TestPaths.Face("deepface/images/Angelina_Jolie/img2.jpg"), Core.Imaging.DecodeLimits.Default).Faces);
    }
}
