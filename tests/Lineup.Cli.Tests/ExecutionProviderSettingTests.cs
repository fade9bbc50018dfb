using System.ComponentModel.DataAnnotations;
using Lineup.Hosting;

namespace Lineup.Cli.Tests;

/// <summary>Lineup:ExecutionProvider and Lineup:CudaDevice are checked at start, naming the setting.</summary>
public sealed class ExecutionProviderSettingTests
{
    [Theory]
    [InlineData("gpu")]
    [InlineData("CUDA ")]
    [InlineData("")]
    public void An_unknown_execution_provider_is_refused_naming_the_setting(string provider)
    {
        var refused = Assert.Throws<ValidationException>(new LineupOptions { ExecutionProvider = provider }.Validate);
        Assert.Equal($"Lineup:ExecutionProvider must be cpu or cuda, not '{provider}'.", refused.Message);
    }

    [Fact]
    public void A_negative_cuda_device_is_refused_naming_the_setting()
    {
        var refused = Assert.Throws<ValidationException>(new LineupOptions { ExecutionProvider = "cuda", CudaDevice = -1 }.Validate);
        Assert.StartsWith("Lineup:CudaDevice:", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("cuda")]
    public void Both_providers_are_valid_settings(string provider) => new LineupOptions { ExecutionProvider = provider }.Validate();

    [Fact]
    public async Task The_cli_refuses_an_unknown_provider_from_the_environment_before_opening_anything()
    {
        using var dir = new Lineup.TestSupport.TempDirectory("provider");

        var result = await CliProcess.RunAsync(["--data", dir.Combine("data"), "stats"], new Dictionary<string, string> { ["LINEUP__Lineup__ExecutionProvider"] = "tpu" });

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("Lineup:ExecutionProvider must be cpu or cuda, not 'tpu'.", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir.Combine("data")));
    }
}
