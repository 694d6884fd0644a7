namespace Engine.Integration.Tests.Support;

/// <summary>The checkout these tests run from (the folder with Engine.sln), for files such as deploy/ and src/.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("no Engine.sln above " + AppContext.BaseDirectory);
    }
}
