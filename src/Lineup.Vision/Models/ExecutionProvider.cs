namespace Lineup.Vision.Models;

/// <summary>
/// Which ONNX Runtime execution provider runs the models. The project never needs a GPU: <see cref="Cpu"/> is the
/// default and the only one the standard build contains. <see cref="Cuda"/> needs a build with the GPU runtime
/// (<c>dotnet build -p:OnnxRuntimeGpu=true</c>, package <c>Microsoft.ML.OnnxRuntime.Gpu.Linux</c>) and a machine
/// with an NVIDIA driver, CUDA 12 and cuDNN 9; without them, opening the models fails with a message that says so.
/// </summary>
public enum ExecutionProvider
{
    Cpu,
    Cuda,
}
