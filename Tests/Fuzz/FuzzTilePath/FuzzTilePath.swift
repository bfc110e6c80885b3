// libFuzzer harness (ops/fuzz.sh): tlog-tiles paths (tile/L/N[.p/W], tile/entries/N[.p/W]).
import FuzzSupport
import GreffeCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    let text = String(decoding: bytes, as: UTF8.self)
    guard let tile = Tile(path: text) else { return 0 }
    // One tile, one spelling: a path parses only if it is the tile's own path (with or without a leading "/").
    let path = Array(tile.path.utf8)
    require(bytes == path || bytes == [UInt8(ascii: "/")] + path, "\(text) parsed as \(tile.path)")
    require(Tile(path: tile.path) == tile, "\(tile.path) does not parse back to itself")
    require(tile.width >= 1 && tile.width <= Tile.fullWidth, "width \(tile.width) out of range")
    // Asking whether it exists never traps, whatever the tree size.
    for size: UInt64 in [0, 1, 255, 256, 257, 65_536, UInt64.max] { _ = tile.exists(inTreeOfSize: size) }
    return 0
}

@_cdecl("FuzzTilePath_main")
func entryPoint(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runLibFuzzer(argc, argv, fuzzOneInput)
}
