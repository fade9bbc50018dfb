using Lineup.Vision.Models;

namespace Lineup.Vision.Tests;

/// <summary>One engine (three ONNX sessions) for every test that needs the models, built once.</summary>
public sealed class EngineFixture : IAsyncLifetime
{
    private FaceEngine? _engine;
    private ModelStore? _store;

    public FaceEngine Engine => _engine ?? throw new InvalidOperationException("The fixture is not initialised.");

    public ModelStore Store => _store ?? throw new InvalidOperationException("The fixture is not initialised.");

    public async Task InitializeAsync()
    {
        _store = await TestPaths.ModelsAsync();
        _engine = FaceEngine.Create(_store);
    }

    public Task DisposeAsync()
    {
        _engine?.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class EngineGroup : ICollectionFixture<EngineFixture>
{
    public const string Name = "engine";
}
