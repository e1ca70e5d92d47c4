using System.Globalization;
using ShopGpt.Bench;

// Load generators for ./shopgpt bench <name>. Traffic goes to 127.0.0.0/8 only, is bounded in
// count and time, and stops by itself.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ShopGpt.Bench rest <server-url> [conversations] [listRate] [sendRate] [seconds]");
    return 2;
}
var server = new Uri(args[1]);
if (!server.IsLoopback) throw new ArgumentException("benchmarks only target loopback addresses");
return args[0] switch
{
    "rest" => await RestBench.RunAsync(server,
        args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000,
        args.Length > 3 ? double.Parse(args[3], CultureInfo.InvariantCulture) : 1000,
        args.Length > 4 ? double.Parse(args[4], CultureInfo.InvariantCulture) : 200,
        TimeSpan.FromSeconds(args.Length > 5 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 20)),
    _ => 2,
};
